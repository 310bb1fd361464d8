"""Ports: what the use cases need from the outside world, as structural protocols.

Adapters implement these; the composition root (entrypoints.container) picks which.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from domain.answers import ChatTurn, SearchHit
from domain.chunking import CodeSymbol
from domain.documents import Chunk, FileEntry, Manifest, SkipCounts, SourceFile
from domain.follow_ups import SearchQuery
from domain.jobs import IndexRequest, Job, Progress
from domain.sources import SourceSpec
from domain.sync import SyncKey, SyncStatus


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


class Embedder(Protocol):
    @property
    def name(self) -> str:
        """Identifies the vector space: a collection holds vectors of one embedder only."""
        ...

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def embed_query(self, text: str) -> list[float]: ...


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as the index keeps it: enough to tell whether a manifest still names its file version."""

    id: str
    path: str
    blob_sha: str


class VectorIndex(Protocol):
    """Chunks and their vectors, grouped in named collections."""

    async def upsert(
        self, collection: str, embedder: str, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]
    ) -> None: ...

    async def existing_ids(self, collection: str, ids: Sequence[str]) -> set[str]: ...

    async def query(
        self,
        collection: str,
        embedder: str,
        vector: Sequence[float],
        k: int,
        repository: str | None = None,
        blob_shas: Collection[str] | None = None,
    ) -> list[SearchHit]:
        """The k nearest chunks, of `repository` only and of file versions in `blob_shas` only, when given."""
        ...

    async def delete(self, collection: str, ids: Sequence[str]) -> None: ...

    async def stored_chunks(self, collection: str, repository: str) -> list[StoredChunk]:
        """Every chunk of `repository` in `collection`, live or not (an unfinished job's too)."""
        ...

    async def chunks(self, collection: str, repository: str, blob_shas: Collection[str] | None = None) -> list[Chunk]:
        """The stored chunks (with their text) of `repository`, of file versions in `blob_shas` only when given."""
        ...

    async def collections(self) -> list[str]:
        """The names of the collections that hold chunks."""
        ...

    async def ping(self) -> None:
        """Raise UpstreamUnavailable when the store cannot be reached."""
        ...

    async def similarities(
        self, collection: str, embedder: str, vector: Sequence[float], ids: Collection[str]
    ) -> dict[str, float]:
        """The cosine similarity of `vector` and each stored chunk of `ids` (ids not stored are left out)."""
        ...

    async def vectors_by_content(self, collection: str, embedder: str, keys: Collection[str]) -> dict[str, list[float]]:
        """A stored vector for each of `keys` (`domain.content_keys`) that a stored chunk has, of any repository.

        `upsert` records each chunk's content key, trusting that its vector is the embedder's for
        `embedding_text(chunk)`; keys no stored chunk has are left out.
        """
        ...


class KeywordIndex(Protocol):
    """BM25 over the terms of stored chunks, for the keyword leg of search."""

    async def query(
        self, collection: str, terms: Mapping[str, float], k: int, live: Mapping[str, Manifest]
    ) -> list[SearchHit]:
        """The k best chunks for `terms` (term -> weight), of the file versions `live` (repository -> manifest)
        names only.

        `live` holds one manifest per repository, at whichever of its refs is searched: the next query
        may pass another ref's manifest of the same repository, and must not cost a rebuild.
        """
        ...

    async def scores(self, collection: str, terms: Mapping[str, float], ids: Collection[str]) -> dict[str, float]:
        """The BM25 score of each chunk of `ids` that matches `terms` (chunks a query of this collection synced)."""
        ...


class ManifestStore(Protocol):
    """The live version of each indexed ref of each repository per collection; `save` is the atomic swap.

    A manifest is keyed by (collection, repository, ref), `ref` as `domain.refs.normalize_ref` gives
    it (None: the default branch), so each ref of a repository swaps independently.
    """

    async def get(self, collection: str, repository: str, ref: str | None) -> Manifest | None: ...

    async def save(self, collection: str, manifest: Manifest) -> None:
        """Replace the manifest of (collection, manifest.repository, manifest.ref)."""
        ...

    async def delete(self, collection: str, repository: str, ref: str | None) -> None: ...

    async def entries(self, collection: str | None = None) -> list[tuple[str, Manifest]]:
        """(collection, manifest) pairs, of one collection or all: one per indexed ref, sorted by
        repository, then collection, then ref (the default branch first)."""
        ...


class ProgressReporter(Protocol):
    async def report(self, stage: str, progress: Progress) -> None: ...


class JobQueue(Protocol):
    """Runs index jobs somewhere (this process, Hatchet workers) and reports on them."""

    async def start(self) -> None:
        """Begin running jobs in this process, where the queue runs them here at all."""
        ...

    async def stop(self) -> None: ...

    async def submit(self, request: IndexRequest) -> Job:
        """Queue a job, or return the unfinished job already queued for that repository."""
        ...

    async def get(self, job_id: str) -> Job: ...

    async def recent(self, limit: int = 50) -> list[Job]: ...

    async def cancel(self, job_id: str) -> Job: ...

    async def ping(self) -> None: ...


@dataclass(frozen=True)
class GenerationOptions:
    """How the caller wants the answer written; a generator honours what it can (the extractive one: none)."""

    instructions: str = ""
    """The caller's own system instructions, given to the model after repochat's."""
    temperature: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class TokenUsage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class GenerationEnd:
    """How a generation ended: what it cost (None when the model did not say), and whether max_tokens cut it."""

    usage: TokenUsage | None = None
    truncated: bool = False


@dataclass(frozen=True)
class Generated:
    text: str
    end: GenerationEnd = field(default_factory=GenerationEnd)


NO_OPTIONS = GenerationOptions()


class AnswerGenerator(Protocol):
    @property
    def generative(self) -> bool: ...

    async def generate(
        self,
        question: str,
        hits: Sequence[SearchHit],
        history: Sequence[ChatTurn],
        options: GenerationOptions = NO_OPTIONS,
    ) -> Generated: ...

    def stream(
        self,
        question: str,
        hits: Sequence[SearchHit],
        history: Sequence[ChatTurn],
        options: GenerationOptions = NO_OPTIONS,
    ) -> AsyncIterator[str | GenerationEnd]:
        """The answer's text in pieces, then one GenerationEnd; a stream the model broke off raises instead."""
        ...


class QueryRewriter(Protocol):
    """Turns a follow-up question and its conversation into what is searched (domain.follow_ups)."""

    async def rewrite(self, question: str, history: Sequence[ChatTurn]) -> SearchQuery: ...


class SyncStatusStore(Protocol):
    """The sync status of each indexed ref (domain.sync), where every API replica and worker sees it."""

    async def get(self, key: SyncKey) -> SyncStatus | None: ...

    async def save(self, status: SyncStatus) -> None: ...

    async def delete(self, key: SyncKey) -> None: ...

    async def entries(self, collection: str | None = None) -> list[SyncStatus]:
        """The statuses of one collection's refs, or of all."""
        ...
