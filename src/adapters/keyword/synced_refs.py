"""SyncedRefs: what each synced ref names, kept beside a keyword index so a restart need not rebuild it.

One JSON file per (repository, ref), written after the index's commit that made it true. A write
to the index first leaves a marker naming its repository, removed once the ref's file is saved: a
marker found at start means a process died in between, and the repository is dropped from the
index and from these records, to be read again whole at its next query.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from adapters.keyword.ref_versions import RefVersions, Version

MARKER_SUFFIX = ".writing"


class SyncedRefs:
    def __init__(self, folder: Path | None) -> None:
        """`folder`: where the records live; None: nowhere (an index in memory)."""
        self._folder = folder
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    def load(self) -> dict[str, RefVersions]:
        """Repository -> what each of its synced refs names."""
        refs: dict[str, RefVersions] = {}
        for path in sorted(self._folder.glob("*.json")) if self._folder is not None else []:
            record = json.loads(path.read_text())
            versions = frozenset((str(c), str(p), str(s)) for c, p, s in record["versions"])
            refs.setdefault(record["repository"], RefVersions()).record(record["ref"], versions)
        return refs

    def interrupted(self) -> list[str]:
        """The repositories whose last write may be half recorded."""
        if self._folder is None:
            return []
        return sorted(path.read_text() for path in self._folder.glob(f"*{MARKER_SUFFIX}"))

    def forget(self, repositories: list[str]) -> None:
        """Drop every record of `repositories` (their chunks have left the index)."""
        if self._folder is None:
            return
        for path in self._folder.glob("*.json"):
            if json.loads(path.read_text())["repository"] in repositories:
                path.unlink()
        for repository in repositories:
            self._marker(repository).unlink(missing_ok=True)

    def forget_refs(self, repository: str, refs: list[str | None]) -> None:
        """Drop the records of `refs` of `repository` (the versions no other ref names left the index), and end
        the write `begin` started."""
        if self._folder is None:
            return
        for ref in refs:
            self._record(repository, ref).unlink(missing_ok=True)
        self._marker(repository).unlink()

    def begin(self, repository: str) -> None:
        """A write of `repository` starts: leave the marker `interrupted` finds if it never ends."""
        if self._folder is not None:
            _write_atomically(self._marker(repository), repository)

    def save(self, repository: str, ref: str | None, versions: frozenset[Version]) -> None:
        """`ref` names `versions` in the committed index: record it, and end the write `begin` started."""
        if self._folder is None:
            return
        record = {"repository": repository, "ref": ref, "versions": sorted(versions)}
        _write_atomically(self._record(repository, ref), json.dumps(record))
        self._marker(repository).unlink()

    def _record(self, repository: str, ref: str | None) -> Path:
        assert self._folder is not None
        return self._folder / f"{_digest(repository, ref or '')}.json"

    def _marker(self, repository: str) -> Path:
        assert self._folder is not None
        return self._folder / f"{_digest(repository)}{MARKER_SUFFIX}"


def _digest(*parts: str) -> str:
    return hashlib.sha1("\0".join(parts).encode(), usedforsecurity=False).hexdigest()


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
