"""Ports: where documents come from: a source's listing and files, and the code outline the chunker uses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from domain.chunking import CodeSymbol
from domain.documents import FileEntry, Manifest, SkipCounts, SourceFile
from domain.sources import SourceSpec


@dataclass(frozen=True)
class SourceSnapshot:
    """A source's listing at one version.

    `files` is None when the source could tell cheaply that nothing changed since
    `previous_commit` (same commit, or an ETag match): the caller does no more work.
    """

    repository: str
    commit: str
    web_url: str
    files: tuple[FileEntry, ...] | None
    skipped: SkipCounts
    etag: str | None = None


StageNote = Callable[[str], Awaitable[None]]
"""Lets an adapter say what it is doing now ("fetching archive", "waiting for rate limit")."""


async def no_note(stage: str) -> None:
    return None


class DocumentSource(Protocol):
    """Lists and reads the files of a source (a GitHub repository, a local folder)."""

    def handles(self, spec: SourceSpec) -> bool: ...

    async def snapshot(
        self, spec: SourceSpec, previous: Manifest | None, note: StageNote = no_note
    ) -> SourceSnapshot: ...

    def read(
        self, spec: SourceSpec, snapshot: SourceSnapshot, entries: Sequence[FileEntry], note: StageNote = no_note
    ) -> AsyncIterator[SourceFile]:
        """Yield the decoded text of `entries`; files that turn out binary are not yielded."""
        ...


class CodeOutline(Protocol):
    """Finds the symbols (functions, classes, methods) of a source file, so code is chunked at their bounds."""

    def symbols(self, path: str, text: str) -> tuple[CodeSymbol, ...]:
        """The top-level symbols of the file, with the ones nested in them; none for a language it cannot parse.

        CPU-bound, like chunking: the caller runs it off the event loop.
        """
        ...
