"""Hand-written fakes of the ports. Each records what happened so tests can assert on it."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import replace
from typing import Generic, TypeVar

from application.answering import AnswerEvent, AskRequest
from application.indexing import IndexRepository
from application.ports.embeddings import Embedder
from application.ports.generation import (
    NO_OPTIONS,
    AnswerGenerator,
    Generated,
    GenerationEnd,
    GenerationOptions,
    QueryRewriter,
)
from application.ports.jobs import BatchDone, BatchOutcome, BatchRunner, IndexBatch, JobQueue
from application.ports.sources import DocumentSource, SourceSnapshot, SourceVersion, StageNote, no_note
from application.ports.stores import ManifestStore, StoredChunk, SyncStatusStore, VectorIndex
from application.search import SearchDocuments, SearchRequest
from domain.answers import ChatTurn, SearchHit
from domain.content_keys import content_key
from domain.documents import Chunk, FileEntry, Manifest, SkipCounts, SourceFile, git_blob_sha
from domain.errors import NotFound, RepochatError
from domain.follow_ups import SearchQuery
from domain.jobs import IndexRequest, IndexResult, Job, JobState, Progress
from domain.sources import SourceKind, SourceSpec
from domain.sync import SyncKey, SyncStatus


class FakeSource(DocumentSource):
    """A folder in memory: path -> text. Binary files are bytes that read() refuses.

    `refs` holds the files of other refs (ref -> path -> text); `files` are those of the default branch.
    """

    def __init__(
        self, files: dict[str, str], binary: Sequence[str] = (), refs: dict[str, dict[str, str]] | None = None
    ) -> None:
        self.files = dict(files)
        self.binary = set(binary)
        self.refs = dict(refs or {})
        self.reads: list[str] = []
        self.snapshots = 0

    def handles(self, spec: SourceSpec) -> bool:
        return spec.kind is SourceKind.LOCAL

    def files_at(self, ref: str | None) -> dict[str, str]:
        return self.files if ref is None else self.refs[ref]

    async def snapshot(self, spec: SourceSpec, previous: Manifest | None, note: StageNote = no_note) -> SourceSnapshot:
        self.snapshots += 1
        files = self.files_at(spec.ref)
        entries = tuple(FileEntry(path, git_blob_sha(text.encode()), len(text)) for path, text in sorted(files.items()))
        commit = git_blob_sha("".join(e.blob_sha for e in entries).encode())
        same = previous is not None and previous.commit == commit
        version = SourceVersion(spec.repository_id, commit, "file:///fake")
        return SourceSnapshot(version, None if same else entries, SkipCounts())

    async def read(
        self, spec: SourceSpec, version: SourceVersion, entries: Sequence[FileEntry], note: StageNote = no_note
    ) -> AsyncIterator[SourceFile]:
        for entry in entries:
            self.reads.append(entry.path)
            if entry.path not in self.binary:
                yield SourceFile(entry.path, entry.blob_sha, self.files_at(spec.ref)[entry.path])


class OtherWorkerBatches(BatchRunner):
    """Runs the batches as a fan-out does: through another worker's use case, finishing in reverse order.

    `lose` names batch numbers whose outcome comes back empty, as a cancelled batch task's does.
    Records the batches it was given.
    """

    def __init__(self, worker: IndexRepository, lose: Collection[int] = ()) -> None:
        self.worker = worker
        self.lose = set(lose)
        self.batches: list[IndexBatch] = []

    async def run(self, batches: Sequence[IndexBatch], done: BatchDone) -> None:
        self.batches.extend(batches)
        for batch in reversed(batches):
            outcome = await self.worker.write(batch)
            await done(batch, BatchOutcome() if batch.number in self.lose else outcome)


class RecordingEmbedder(Embedder):
    """Embeds by letter counts; records every text it was asked to embed."""

    def __init__(self, fail_after_calls: int | None = None) -> None:
        self.embedded: list[str] = []
        self.calls = 0
        self.fail_after_calls = fail_after_calls

    @property
    def name(self) -> str:
        return "letters"

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if self.fail_after_calls is not None and self.calls >= self.fail_after_calls:
            raise RuntimeError("embedding service down")
        self.calls += 1
        self.embedded.extend(texts)
        return [_letters(t) for t in texts]

    async def embed_query(self, text: str) -> list[float]:
        return _letters(text)


def _letters(text: str) -> list[float]:
    vector = [float(text.lower().count(chr(ord("a") + i))) for i in range(26)]
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


class InMemoryVectorIndex(VectorIndex):
    def __init__(self) -> None:
        self.records: dict[str, dict[str, tuple[Chunk, list[float]]]] = {}
        self.upserted: list[str] = []
        self.deleted: list[str] = []
        self.queries: list[int] = []
        """The number of candidates each query asked for."""
        self.chunk_reads: list[tuple[str, frozenset[str] | None]] = []
        """(repository, blob SHAs or None for all) of each read of stored chunks."""
        self.content_keys: dict[str, dict[str, str]] = {}
        """collection -> chunk id -> content key, as upsert records them (clear to mimic older chunks)."""
        self.content_lookups: list[frozenset[str]] = []
        """The keys of each lookup of vectors by content."""

    async def upsert(
        self, collection: str, embedder: str, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]
    ) -> None:
        store = self.records.setdefault(collection, {})
        keys = self.content_keys.setdefault(collection, {})
        for chunk, vector in zip(chunks, vectors, strict=True):
            store[chunk.id] = (chunk, list(vector))
            keys[chunk.id] = content_key(chunk)
            self.upserted.append(chunk.id)

    async def existing_ids(self, collection: str, ids: Sequence[str]) -> set[str]:
        return set(ids) & set(self.records.get(collection, {}))

    async def query(
        self,
        collection: str,
        embedder: str,
        vector: Sequence[float],
        k: int,
        repository: str | None = None,
        blob_shas: Collection[str] | None = None,
    ) -> list[SearchHit]:
        self.queries.append(k)
        scored = [
            SearchHit(chunk, sum(a * b for a, b in zip(vector, stored, strict=True)))
            for chunk, stored in self.records.get(collection, {}).values()
            if (repository is None or chunk.repository == repository)
            and (blob_shas is None or chunk.blob_sha in blob_shas)
        ]
        return sorted(scored, key=lambda h: -h.score)[:k]

    async def similarities(
        self, collection: str, embedder: str, vector: Sequence[float], ids: Collection[str]
    ) -> dict[str, float]:
        stored = self.records.get(collection, {})
        return {i: sum(a * b for a, b in zip(vector, stored[i][1], strict=True)) for i in ids if i in stored}

    async def delete(self, collection: str, ids: Sequence[str]) -> None:
        for chunk_id in ids:
            self.content_keys.get(collection, {}).pop(chunk_id, None)
            if self.records.get(collection, {}).pop(chunk_id, None):
                self.deleted.append(chunk_id)

    async def ping(self) -> None:
        return None

    async def stored_chunks(self, collection: str, repository: str) -> list[StoredChunk]:
        stored = self.records.get(collection, {}).values()
        return [StoredChunk(c.id, c.path, c.blob_sha) for c, _ in stored if c.repository == repository]

    async def chunks(self, collection: str, repository: str, blob_shas: Collection[str] | None = None) -> list[Chunk]:
        self.chunk_reads.append((repository, None if blob_shas is None else frozenset(blob_shas)))
        stored = self.records.get(collection, {}).values()
        return [c for c, _ in stored if c.repository == repository and (blob_shas is None or c.blob_sha in blob_shas)]

    async def collections(self) -> list[str]:
        return sorted(self.records)

    async def vectors_by_content(self, collection: str, embedder: str, keys: Collection[str]) -> dict[str, list[float]]:
        self.content_lookups.append(frozenset(keys))
        store = self.records.get(collection, {})
        stored = self.content_keys.get(collection, {}).items()
        return {key: list(store[chunk_id][1]) for chunk_id, key in stored if key in keys}

    def paths(self, collection: str = "default") -> set[str]:
        return {chunk.path for chunk, _ in self.records.get(collection, {}).values()}


class InMemoryManifestStore(ManifestStore):
    def __init__(self) -> None:
        self.manifests: dict[tuple[str, str, str], Manifest] = {}
        """(collection, repository, ref or "") -> manifest"""
        self.saves = 0

    async def get(self, collection: str, repository: str, ref: str | None) -> Manifest | None:
        return self.manifests.get((collection, repository, ref or ""))

    async def save(self, collection: str, manifest: Manifest) -> None:
        self.saves += 1
        self.manifests[(collection, manifest.repository, manifest.ref or "")] = manifest

    async def delete(self, collection: str, repository: str, ref: str | None) -> None:
        self.manifests.pop((collection, repository, ref or ""), None)

    async def entries(self, collection: str | None = None) -> list[tuple[str, Manifest]]:
        ordered = sorted(self.manifests.items(), key=lambda item: (item[0][1], item[0][0], item[0][2]))
        return [(c, m) for (c, _, _), m in ordered if collection in (None, c)]


class ScriptedGenerator(AnswerGenerator):
    """Answers with a fixed text; records the hits and history it was given, and the options apart."""

    def __init__(self, text: str = "Use a default of None [1].", end: GenerationEnd | None = None) -> None:
        self.text = text
        self.end = end or GenerationEnd()
        self.calls: list[tuple[str, list[SearchHit], list[ChatTurn]]] = []
        self.options: list[GenerationOptions] = []

    @property
    def generative(self) -> bool:
        return True

    async def generate(
        self,
        question: str,
        hits: Sequence[SearchHit],
        history: Sequence[ChatTurn],
        options: GenerationOptions = NO_OPTIONS,
    ) -> Generated:
        self._record(question, hits, history, options)
        return Generated(self.text, self.end)

    async def stream(
        self,
        question: str,
        hits: Sequence[SearchHit],
        history: Sequence[ChatTurn],
        options: GenerationOptions = NO_OPTIONS,
    ) -> AsyncIterator[str | GenerationEnd]:
        self._record(question, hits, history, options)
        for word in self.text.split(" "):
            yield word + " "
        yield self.end

    def _record(
        self, question: str, hits: Sequence[SearchHit], history: Sequence[ChatTurn], options: GenerationOptions
    ) -> None:
        self.calls.append((question, list(hits), list(history)))
        self.options.append(options)


class ScriptedRewriter(QueryRewriter):
    """Rewrites every follow-up to `query`, or raises `error`; records the question and history of each call."""

    def __init__(self, query: str = "the standalone query", error: Exception | None = None) -> None:
        self.query = query
        self.error = error
        self.calls: list[tuple[str, list[ChatTurn]]] = []

    async def rewrite(self, question: str, history: Sequence[ChatTurn]) -> SearchQuery:
        self.calls.append((question, list(history)))
        if self.error is not None:
            raise self.error
        return SearchQuery(self.query)


class ScriptedSearch(SearchDocuments):
    """Stands in for SearchDocuments (a subclass, as the use cases built on search take one, keeping
    none of its state): records each request and finds `hits`."""

    def __init__(self, hits: Sequence[SearchHit] = ()) -> None:
        self.hits = list(hits)
        self.requests: list[SearchRequest] = []

    async def execute(self, request: SearchRequest) -> list[SearchHit]:
        self.requests.append(request)
        return list(self.hits)


class RecordingProgress:
    def __init__(self) -> None:
        self.reports: list[tuple[str, Progress]] = []

    async def report(self, stage: str, progress: Progress) -> None:
        self.reports.append((stage, progress))


T = TypeVar("T")


class RecordingUseCase(Generic[T]):
    """Stands in for any use case: records the arguments of each `execute`, then returns
    `outcome`, or raises it when it is an exception."""

    def __init__(self, outcome: T | Exception) -> None:
        self.outcome = outcome
        self.calls: list[tuple[object, ...]] = []

    async def execute(self, *args: object) -> T:
        self.calls.append(args)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


class ScriptedAnswerStream:
    """Stands in for StreamAnswer: records the requests, yields `events`, then raises `error` if given."""

    def __init__(self, events: Sequence[AnswerEvent], error: Exception | None = None) -> None:
        self.events = list(events)
        self.error = error
        self.requests: list[AskRequest] = []

    async def execute(self, request: AskRequest) -> AsyncIterator[AnswerEvent]:
        self.requests.append(request)
        for event in self.events:
            yield event
        if self.error is not None:
            raise self.error


class RecordingJobQueue(JobQueue):
    """Keeps jobs in memory (they stay queued); records the start and stop of its workers."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.lifecycle: list[str] = []

    async def start(self) -> None:
        self.lifecycle.append("start")

    async def stop(self) -> None:
        self.lifecycle.append("stop")

    async def submit(self, request: IndexRequest) -> Job:
        job = Job(f"job-{len(self.jobs) + 1}", request.source.repository_id, request)
        self.jobs[job.id] = job
        return job

    async def get(self, job_id: str) -> Job:
        if job_id not in self.jobs:
            raise NotFound(f"no job with id {job_id!r}")
        return self.jobs[job_id]

    async def recent(self, limit: int = 50) -> list[Job]:
        return list(self.jobs.values())[-limit:]

    async def cancel(self, job_id: str) -> Job:
        job = await self.get(job_id)
        self.jobs[job_id] = Job(job.id, job.repository, job.request, JobState.CANCELLED, "cancelled")
        return self.jobs[job_id]

    async def ping(self) -> None:
        return None


class InMemorySyncStatusStore(SyncStatusStore):
    """Sync statuses by key; counts its saves."""

    def __init__(self) -> None:
        self.statuses: dict[SyncKey, SyncStatus] = {}
        self.saves = 0

    async def get(self, key: SyncKey) -> SyncStatus | None:
        return self.statuses.get(key)

    async def save(self, status: SyncStatus) -> None:
        self.saves += 1
        self.statuses[status.key] = status

    async def delete(self, key: SyncKey) -> None:
        self.statuses.pop(key, None)

    async def entries(self, collection: str | None = None) -> list[SyncStatus]:
        return [s for s in self.statuses.values() if collection in (None, s.collection)]


class FinishingJobQueue(RecordingJobQueue):
    """A RecordingJobQueue whose jobs a test finishes, and which refuses submissions while `refusal` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.refusal: RepochatError | None = None
        self.submitted: list[IndexRequest] = []

    async def submit(self, request: IndexRequest) -> Job:
        if self.refusal is not None:
            raise self.refusal
        self.submitted.append(request)
        return await super().submit(request)

    def finish(self, job_id: str, result: IndexResult | None = None, error: str | None = None) -> None:
        """Succeeded with `result`, or failed with `error`; cancelled with neither."""
        state = JobState.FAILED if error else JobState.SUCCEEDED if result else JobState.CANCELLED
        job = self.jobs[job_id]
        self.jobs[job_id] = replace(
            job, state=state, result=result, error=error, updated_at="2025-01-01T00:00:00+00:00"
        )
