"""LocalFolderSource: index a folder on this machine."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from application.ports.sources import DocumentSource, SourceSnapshot, SourceVersion, StageNote, no_note
from domain.documents import FileEntry, Manifest, SkipCounts, SourceFile, git_blob_sha
from domain.errors import InvalidInput
from domain.file_policy import FilePolicy, SkipReason, decode_text, is_valid_name
from domain.sources import SourceKind, SourceSpec


class LocalFolderSource(DocumentSource):
    """Walks a folder without following links out of it.

    Files are identified by their git blob SHA, as on GitHub, so a folder that is a git
    checkout and the same repository on GitHub agree on what changed.
    """

    def __init__(self, max_file_bytes: int | None = None) -> None:
        self._max_file_bytes = max_file_bytes

    def handles(self, spec: SourceSpec) -> bool:
        return spec.kind is SourceKind.LOCAL

    async def check(self, spec: SourceSpec) -> None:
        await asyncio.to_thread(_root, spec)

    async def snapshot(self, spec: SourceSpec, previous: Manifest | None, _note: StageNote = no_note) -> SourceSnapshot:
        root = _root(spec)
        entries, skipped = await asyncio.to_thread(self._list, root, self._policy(spec))
        commit = _folder_digest(entries)
        unchanged = previous is not None and previous.commit == commit
        version = SourceVersion(repository=spec.repository_id, commit=commit, web_url=root.as_uri())
        return SourceSnapshot(version, files=None if unchanged else tuple(entries), skipped=skipped)

    async def read(
        self, spec: SourceSpec, _version: SourceVersion, entries: Sequence[FileEntry], _note: StageNote = no_note
    ) -> AsyncIterator[SourceFile]:
        """Each file as it is now, if it still has the content listed (the version is the listing's digest)."""
        root = _root(spec)
        for entry in entries:
            file = await asyncio.to_thread(_read, root, entry)
            if file is not None:
                yield file

    async def release(self, spec: SourceSpec, version: SourceVersion) -> None:
        """Nothing is kept between reads."""

    def _policy(self, spec: SourceSpec) -> FilePolicy:
        if self._max_file_bytes is None:
            return FilePolicy(spec.include, spec.exclude)
        return FilePolicy(spec.include, spec.exclude, self._max_file_bytes)

    def _list(self, root: Path, policy: FilePolicy) -> tuple[list[FileEntry], SkipCounts]:
        entries: list[FileEntry] = []
        counts = {reason: 0 for reason in SkipReason}
        for folder, dirs, names in os.walk(root):
            dirs.sort()
            for name in sorted(names):
                path = Path(folder) / name
                relative = path.relative_to(root).as_posix()
                reason, entry = _inspect(root, path, relative, policy)
                if reason:
                    counts[reason] += 1
                elif entry:
                    entries.append(entry)
        skipped = SkipCounts(
            binary=counts[SkipReason.BINARY],
            too_large=counts[SkipReason.TOO_LARGE],
            unsafe=counts[SkipReason.UNSAFE],
            filtered=counts[SkipReason.FILTERED],
            bad_name=counts[SkipReason.BAD_NAME],
        )
        return entries, skipped


def _root(spec: SourceSpec) -> Path:
    root = Path(spec.location).expanduser().resolve()
    if not root.is_dir():
        raise InvalidInput(f"folder {spec.location!r} does not exist or is not a folder")
    return root


def _inspect(root: Path, path: Path, relative: str, policy: FilePolicy) -> tuple[SkipReason | None, FileEntry | None]:
    """Why the file is skipped, or its entry. One that cannot be read (a symlink loop, no permission, gone
    since the folder was listed) is skipped as unsafe, not a reason to fail the whole job."""
    if not is_valid_name(relative):
        return SkipReason.BAD_NAME, None
    try:
        if (path.is_symlink() and not path.resolve(strict=True).is_relative_to(root)) or not path.is_file():
            return SkipReason.UNSAFE, None
        reason = policy.check(relative, path.stat().st_size)
        if reason:
            return reason, None
        content = path.read_bytes()
    except (OSError, RuntimeError):  # RuntimeError: Python 3.11's resolve() on a symlink loop
        return SkipReason.UNSAFE, None
    if decode_text(content) is None:
        return SkipReason.BINARY, None
    return None, FileEntry(relative, git_blob_sha(content), len(content))


def _read(root: Path, entry: FileEntry) -> SourceFile | None:
    """The file's text, or None if it vanished or changed since it was listed."""
    try:
        content = (root / entry.path).read_bytes()
    except OSError:
        return None
    text = decode_text(content)
    if text is None or git_blob_sha(content) != entry.blob_sha:
        return None
    return SourceFile(entry.path, entry.blob_sha, text)


def _folder_digest(entries: Sequence[FileEntry]) -> str:
    """Stands in for a commit SHA: changes whenever any listed file's content or path does."""
    digest = hashlib.sha1(usedforsecurity=False)
    for entry in entries:
        digest.update(f"{entry.path}\0{entry.blob_sha}\n".encode())
    return digest.hexdigest()
