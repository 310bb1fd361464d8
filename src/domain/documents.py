"""What a source yields and what the index stores: files, chunks, manifests."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

CHUNKER_VERSION = "2"
"""Part of every chunk id, and recorded in each manifest: changing the chunking policy must change it,
so the next index job of every repository chunks (and embeds) its files once again.

2: MDX and front matter, reStructuredText sections, code at symbol boundaries, search text without markup.
"""
FIRST_CHUNKER_VERSION = "1"
"""What cut the chunks of a manifest saved before manifests recorded their chunker (`chunker == ""`)."""


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
    bad_name: int = 0
    """Names that are not valid UTF-8. Results recorded before this was counted load with 0."""

    @property
    def total(self) -> int:
        return self.binary + self.too_large + self.unsafe + self.filtered + self.bad_name

    def __add__(self, other: SkipCounts) -> SkipCounts:
        return SkipCounts(
            self.binary + other.binary,
            self.too_large + other.too_large,
            self.unsafe + other.unsafe,
            self.filtered + other.filtered,
            self.bad_name + other.bad_name,
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
    search_text: str = ""
    """`text` without its markup (front matter, imports, JSX tags): what is embedded and matched.
    Empty when that is `text` itself."""


def chunk_id(repository: str, path: str, blob_sha: str, ordinal: int, chunker: str = CHUNKER_VERSION) -> str:
    """Deterministic: the same file version always yields the same ids, so retries are idempotent."""
    key = "\0".join((chunker, repository, path, blob_sha, str(ordinal)))
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
    chunker: str = ""
    """The CHUNKER_VERSION that cut this version's chunks; "" in manifests saved before it was recorded."""

    def is_live(self, path: str, blob_sha: str) -> bool:
        return self.files.get(path) == blob_sha

    def names(self, chunk: Chunk) -> bool:
        """Whether `chunk` is one this version shows: of a live file version, cut by this version's chunker.

        While a repository is chunked anew, old and new chunks share their file versions; the id,
        which hashes the chunker version in, tells them apart.
        """
        return self.is_live(chunk.path, chunk.blob_sha) and chunk.id == chunk_id(
            chunk.repository, chunk.path, chunk.blob_sha, chunk.ordinal, self.chunked_by
        )

    @property
    def chunked_by(self) -> str:
        return self.chunker or FIRST_CHUNKER_VERSION

    @property
    def outdated_chunker(self) -> bool:
        """Its chunks were cut by another chunking policy: the next index job cuts every file again."""
        return self.chunked_by != CHUNKER_VERSION

    def chunk_ids(self) -> frozenset[str]:
        """The ids of every chunk this version names: of its file versions, cut by its chunker.

        After a job that chunked a repository anew, the old chunks share their file versions with
        the new ones; only their ids tell them apart.
        """
        return frozenset(
            chunk_id(self.repository, path, blob_sha, ordinal, self.chunked_by)
            for path, blob_sha in self.files.items()
            for ordinal in range(self.chunk_counts.get(path, 0))
        )

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
    """Files of a manifest cut by another chunker count as changed even at the same blob SHA."""
    old = dict(previous.files) if previous else {}
    rechunk = previous is not None and previous.outdated_chunker
    added: list[FileEntry] = []
    changed: list[FileEntry] = []
    unchanged: list[FileEntry] = []
    for entry in entries:
        known = old.pop(entry.path, None)
        if known is None:
            added.append(entry)
        elif known == entry.blob_sha and not rechunk:
            unchanged.append(entry)
        else:
            changed.append(entry)
    return ManifestDiff(tuple(added), tuple(changed), tuple(unchanged), tuple(sorted(old)))
