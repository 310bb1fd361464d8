"""What a source yields and what the index stores: files, chunks, manifests."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

CHUNKER_VERSION = "1"
"""Part of every chunk id: changing the chunking policy must change the ids."""


def git_blob_sha(content: bytes) -> str:
    """The SHA-1 git gives a blob: local folders and GitHub trees share one file identity."""
    header = f"blob {len(content)}\0".encode()
    return hashlib.sha1(header + content, usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class FileEntry:
    """A file as listed by a source, before its content is read."""

    path: str
    blob_sha: str
    size: int


@dataclass(frozen=True)
class SourceFile:
    """A file's decoded text, read from a source at a known version."""

    path: str
    blob_sha: str
    text: str


@dataclass(frozen=True)
class SkipCounts:
    """Files a source passed over, by reason; reported in job results."""

    binary: int = 0
    too_large: int = 0
    unsafe: int = 0
    filtered: int = 0

    @property
    def total(self) -> int:
        return self.binary + self.too_large + self.unsafe + self.filtered

    def __add__(self, other: SkipCounts) -> SkipCounts:
        return SkipCounts(
            self.binary + other.binary,
            self.too_large + other.too_large,
            self.unsafe + other.unsafe,
            self.filtered + other.filtered,
        )


@dataclass(frozen=True)
class Chunk:
    """A span of one file, the unit that is embedded and cited."""

    id: str
    repository: str
    path: str
    blob_sha: str
    commit: str
    ordinal: int
    text: str
    start_line: int
    end_line: int
    headings: tuple[str, ...] = ()
    url: str = ""


def chunk_id(repository: str, path: str, blob_sha: str, ordinal: int) -> str:
    """Deterministic: the same file version always yields the same ids, so retries are idempotent."""
    key = "\0".join((CHUNKER_VERSION, repository, path, blob_sha, str(ordinal)))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Manifest:
    """The live version of a repository in a collection: what readers may see.

    Swapping a manifest is the one write that makes a new index version visible.
    """

    repository: str
    source: str
    commit: str
    files: Mapping[str, str] = field(default_factory=dict)
    """path -> blob sha"""
    chunk_counts: Mapping[str, int] = field(default_factory=dict)
    """path -> number of chunks of that file version"""
    indexed_at: str = ""
    ref: str | None = None
    etag: str | None = None
    web_url: str = ""
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    """The filters this version was listed with: other filters mean another listing."""

    def is_live(self, path: str, blob_sha: str) -> bool:
        return self.files.get(path) == blob_sha

    @property
    def chunk_total(self) -> int:
        return sum(self.chunk_counts.values())


@dataclass(frozen=True)
class ManifestDiff:
    """How a new listing differs from the live manifest."""

    added: tuple[FileEntry, ...]
    changed: tuple[FileEntry, ...]
    unchanged: tuple[FileEntry, ...]
    deleted: tuple[str, ...]

    @property
    def to_index(self) -> tuple[FileEntry, ...]:
        return self.added + self.changed


def diff_manifest(previous: Manifest | None, entries: tuple[FileEntry, ...]) -> ManifestDiff:
    old = dict(previous.files) if previous else {}
    added: list[FileEntry] = []
    changed: list[FileEntry] = []
    unchanged: list[FileEntry] = []
    for entry in entries:
        known = old.pop(entry.path, None)
        if known is None:
            added.append(entry)
        elif known == entry.blob_sha:
            unchanged.append(entry)
        else:
            changed.append(entry)
    return ManifestDiff(tuple(added), tuple(changed), tuple(unchanged), tuple(sorted(old)))
