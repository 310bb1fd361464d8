"""Ports: where documents come from: a source's listing and files, and the code outline the chunker uses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from domain.chunking import CodeSymbol
from domain.documents import FileEntry, Manifest, SkipCounts, SourceFile
from domain.sources import SourceSpec


@dataclass(frozen=True)
class SourceVersion:
    """One version of a source, as `DocumentSource.read` needs it: all it reads by.

    It travels by value (a batch task on another worker gets it as JSON), so the source keeps no
    state between `snapshot` and `read`: what `snapshot` decided about reading goes in `fetch_plan`.
    """

    repository: str
    commit: str
    web_url: str
    etag: str | None = None
    fetch_plan: str = ""
    """How the source fetches this version's files, in its own terms (opaque to everyone else).
    Empty: no plan, the source reads each file on its own (as when one indexed file is read again)."""


@dataclass(frozen=True)
class SourceSnapshot:
    """A source's listing at one version.

    `files` is None when the source could tell cheaply that nothing changed since the previous
    manifest (same commit, or an ETag match): the caller does no more work.
    """

    version: SourceVersion
    files: tuple[FileEntry, ...] | None
    skipped: SkipCounts


StageNote = Callable[[str], Awaitable[None]]
"""Lets an adapter say what it is doing now ("fetching archive", "waiting for rate limit")."""


async def no_note(_stage: str) -> None:
    return None


class DocumentSource(Protocol):
    """Lists and reads the files of a source (a GitHub repository, a local folder)."""

    def handles(self, spec: SourceSpec) -> bool: ...

    async def check(self, spec: SourceSpec) -> None:
        """InvalidInput now when `spec` names nothing to read (a folder that does not exist), so a request fails
        when it is made, not in a worker. Asked only once the caller may index the repository, so that a
        caller cannot learn this of one it may not."""
        ...

    async def snapshot(
        self, spec: SourceSpec, previous: Manifest | None, note: StageNote = no_note
    ) -> SourceSnapshot: ...

    def read(
        self, spec: SourceSpec, version: SourceVersion, entries: Sequence[FileEntry], note: StageNote = no_note
    ) -> AsyncIterator[SourceFile]:
        """Yield the decoded text of `entries`; files that turn out binary are not yielded.

        Reads by `spec` and `version` alone, in any process: the batches of one snapshot may be
        read by several workers, none of which took it.
        """
        ...

    async def release(self, spec: SourceSpec, version: SourceVersion) -> None:
        """The job that listed `version` ended, in any state: let go of what this process kept to read it
        (an extracted archive). Reading it again later still works, at the cost of fetching again."""
        ...


class CodeOutline(Protocol):
    """Finds the symbols (functions, classes, methods) of a source file, so code is chunked at their bounds."""

    def symbols(self, path: str, text: str) -> tuple[CodeSymbol, ...]:
        """The top-level symbols of the file, with the ones nested in them; none for a language it cannot parse.

        CPU-bound, like chunking: the caller runs it off the event loop.
        """
        ...
