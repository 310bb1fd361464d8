"""Hand-written fakes of the ports. Each records what happened so tests can assert on it."""

from __future__ import annotations

import math
import struct
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Generic, TypeVar

from adapters.keyword.chunk_reader import KeywordChunk, StoredVector
from application.answering import AnswerEvent, AskRequest, GeneratedAnswer
from application.indexing import IndexRepository
from application.ports.access import GitHubPermissions, KeyStore, StoredKey
from application.ports.embeddings import Embedder
from application.ports.generation import AnswerGenerator, Generated, GenerationEnd, GenerationRequest, QueryRewriter
from application.ports.jobs import BatchDone, BatchOutcome, BatchRunner, IndexBatch, JobQueue
from application.ports.sessions import GitHubSignIn, Session, SessionStore
from application.ports.sources import DocumentSource, SourceSnapshot, SourceVersion, StageNote, no_note
from application.ports.stores import (
    DeliveryLog,
    ManifestStore,
    StoredChunk,
    SyncStatusStore,
    VectorIndex,
    VectorQuery,
)
from application.search import Search, SearchRequest, SearchResults
from domain.access import GitHubUser
from domain.answers import ChatTurn, SearchHit
from domain.chunking import embedding_text
from domain.content_keys import content_key
from domain.documents import Chunk, FileEntry, Manifest, SkipCounts, SourceFile, git_blob_sha
from domain.errors import AccessDenied, Conflict, NotFound, RepochatError, UpstreamUnavailable
from domain.follow_ups import SearchQuery
from domain.jobs import IndexRequest, IndexResult, Job, JobState, Progress
from domain.keywords import keyword_terms
from domain.retrieval import RetrievalMode
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
        self.released: list[SourceVersion] = []

    def handles(self, spec: SourceSpec) -> bool:
        return spec.kind is SourceKind.LOCAL

    async def check(self, spec: SourceSpec) -> None:
        """Every spec names files: the folder is in memory."""

    def files_at(self, ref: str | None) -> dict[str, str]:
        return self.files if ref is None else self.refs[ref]

    async def snapshot(self, spec: SourceSpec, previous: Manifest | None, _note: StageNote = no_note) -> SourceSnapshot:
        self.snapshots += 1
        files = self.files_at(spec.ref)
        entries = tuple(FileEntry(path, git_blob_sha(text.encode()), len(text)) for path, text in sorted(files.items()))
        commit = git_blob_sha("".join(e.blob_sha for e in entries).encode())
        same = previous is not None and previous.commit == commit
        version = SourceVersion(spec.repository_id, commit, "file:///fake")
        return SourceSnapshot(version, None if same else entries, SkipCounts())

    async def read(
        self, spec: SourceSpec, _version: SourceVersion, entries: Sequence[FileEntry], _note: StageNote = no_note
    ) -> AsyncIterator[SourceFile]:
        for entry in entries:
            self.reads.append(entry.path)
            if entry.path not in self.binary:
                yield SourceFile(entry.path, entry.blob_sha, self.files_at(spec.ref)[entry.path])

    async def release(self, _spec: SourceSpec, version: SourceVersion) -> None:
        self.released.append(version)


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


class FailingEmbedder(Embedder):
    """An embedding service that is down, as an adapter says so: UpstreamUnavailable; counts the calls."""

    def __init__(self) -> None:
        self.calls = 0

    @property
    def name(self) -> str:
        return "down"

    async def embed_documents(self, _texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        raise UpstreamUnavailable("the embedding service is down")

    async def embed_query(self, text: str) -> list[float]:
        return (await self.embed_documents([text]))[0]


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    norms = math.hypot(*a) * math.hypot(*b)
    return sum(x * y for x, y in zip(a, b, strict=True)) / (norms or 1.0)


def _letters(text: str) -> list[float]:
    vector = [float(text.lower().count(chr(ord("a") + i))) for i in range(26)]
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


class InMemoryVectorIndex(VectorIndex):
    def __init__(self) -> None:
        self.records: dict[str, dict[str, tuple[Chunk, list[float]]]] = {}
        self.upserted: list[str] = []
        self.deleted: list[str] = []
        self.queries: list[VectorQuery] = []
        """The number of candidates each query asked for."""
        self.chunk_reads: list[tuple[str, frozenset[str] | None]] = []
        """(repository, blob SHAs or None for all) of each read of stored chunks."""
        self.content_keys: dict[str, dict[str, str]] = {}
        """collection -> chunk id -> content key, as upsert records them (clear to mimic older chunks)."""
        self.content_lookups: list[frozenset[str]] = []
        """The keys of each lookup of vectors by content."""
        self.embedders: dict[str, str] = {}
        """collection -> the embedder of its vectors, as its first upsert labels it (as Chroma's metadata does)."""
        self.keyword_vectors = True
        """Whether `keyword_chunks` gives each chunk's vector (off: as a store that holds none would)."""
        self.similarity_reads: list[frozenset[str]] = []
        """The ids of each `similarities` call."""

    def _check_embedder(self, collection: str, embedder: str) -> None:
        stored = self.embedders.get(collection)
        if stored and stored != embedder:
            raise Conflict(f"collection {collection!r} holds vectors of {stored!r}: set REPOCHAT_EMBEDDINGS to match")

    async def upsert(
        self, collection: str, embedder: str, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]
    ) -> None:
        self._check_embedder(collection, embedder)
        self.embedders.setdefault(collection, embedder)
        store = self.records.setdefault(collection, {})
        keys = self.content_keys.setdefault(collection, {})
        for chunk, vector in zip(chunks, vectors, strict=True):
            store[chunk.id] = (chunk, list(vector))
            keys[chunk.id] = content_key(chunk)
            self.upserted.append(chunk.id)

    async def existing_ids(self, collection: str, ids: Sequence[str]) -> set[str]:
        return set(ids) & set(self.records.get(collection, {}))

    async def query(self, query: VectorQuery) -> list[tuple[str, float]]:
        self.queries.append(query)
        self._check_embedder(query.collection, query.embedder)
        scored = [
            (chunk.id, _cosine(query.vector, stored))
            for chunk, stored in self.records.get(query.collection, {}).values()
            if (query.repositories is None or chunk.repository in query.repositories)
            and (query.blob_shas is None or chunk.blob_sha in query.blob_shas)
        ]
        return sorted(scored, key=lambda scored_id: -scored_id[1])[: query.k]

    async def similarities(
        self, collection: str, embedder: str, vector: Sequence[float], ids: Collection[str]
    ) -> dict[str, float]:
        self.similarity_reads.append(frozenset(ids))
        self._check_embedder(collection, embedder)
        stored = self.records.get(collection, {})
        return {i: _cosine(vector, stored[i][1]) for i in ids if i in stored}

    async def delete(self, collection: str, ids: Sequence[str]) -> None:
        for chunk_id in ids:
            self.content_keys.get(collection, {}).pop(chunk_id, None)
            if self.records.get(collection, {}).pop(chunk_id, None):
                self.deleted.append(chunk_id)

    async def stored_chunks(self, collection: str, repository: str) -> list[StoredChunk]:
        stored = self.records.get(collection, {}).values()
        return [StoredChunk(c.id, c.path, c.blob_sha) for c, _ in stored if c.repository == repository]

    async def keyword_chunks(
        self, collection: str, repository: str, blob_shas: Collection[str] | None = None
    ) -> list[KeywordChunk]:
        """As ChromaVectorIndex reads them for the keyword index (not a method of the port), with their terms
        and, unless `keyword_vectors` is off, their vectors."""
        self.chunk_reads.append((repository, None if blob_shas is None else frozenset(blob_shas)))
        stored = self.records.get(collection, {}).values()
        embedder = self.embedders.get(collection, "")
        return [
            KeywordChunk(
                c,
                " ".join(keyword_terms(embedding_text(c))),
                StoredVector(embedder, struct.pack(f"{len(v)}f", *v)) if self.keyword_vectors else None,
            )
            for c, v in stored
            if c.repository == repository and (blob_shas is None or c.blob_sha in blob_shas)
        ]

    async def collections(self) -> list[str]:
        return sorted(self.records)

    async def vectors_by_content(self, collection: str, embedder: str, keys: Collection[str]) -> dict[str, list[float]]:
        self.content_lookups.append(frozenset(keys))
        self._check_embedder(collection, embedder)
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
    """Answers with a fixed text; records the request of each generation."""

    def __init__(self, text: str = "Use a default of None [1].", end: GenerationEnd | None = None) -> None:
        self.text = text
        self.end = end or GenerationEnd()
        self.requests: list[GenerationRequest] = []

    @property
    def generative(self) -> bool:
        return True

    async def generate(self, request: GenerationRequest) -> Generated:
        self.requests.append(request)
        return Generated(self.text, self.end)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str | GenerationEnd]:
        self.requests.append(request)
        for word in self.text.split(" "):
            yield word + " "
        yield self.end


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


class ScriptedSearch(Search):
    """Records each request and finds `hits`, ranked by the request's mode (hybrid when it names none)."""

    def __init__(self, hits: Sequence[SearchHit] = ()) -> None:
        self.hits = tuple(hits)
        self.requests: list[SearchRequest] = []

    async def execute(self, request: SearchRequest) -> SearchResults:
        self.requests.append(request)
        return SearchResults(self.hits, request.mode or RetrievalMode.HYBRID)


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


class ScriptedAnswers(RecordingUseCase[GeneratedAnswer]):
    """Stands in for AnswerQuestion. `execute` records its request and returns `answer` (or raises it;
    by default nothing whole is expected); `stream` records its request in `streamed`, yields `events`,
    then raises `error` if given."""

    def __init__(
        self,
        events: Sequence[AnswerEvent] = (),
        error: Exception | None = None,
        answer: GeneratedAnswer | Exception | None = None,
    ) -> None:
        super().__init__(AssertionError("a whole answer was not expected") if answer is None else answer)
        self.events = list(events)
        self.error = error
        self.streamed: list[AskRequest] = []

    async def stream(self, request: AskRequest) -> AsyncIterator[AnswerEvent]:
        self.streamed.append(request)
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


class InMemoryDeliveryLog(DeliveryLog):
    """Delivery ids and when they were handled."""

    def __init__(self) -> None:
        self.handled: dict[str, datetime] = {}

    async def handled_at(self, delivery: str) -> datetime | None:
        return self.handled.get(delivery)

    async def record(self, delivery: str, at: datetime, forget_before: datetime) -> None:
        self.handled = {d: t for d, t in self.handled.items() if t >= forget_before}
        self.handled[delivery] = at


class CoalescingJobQueue(RecordingJobQueue):
    """Returns the unfinished job of the same repository and ref instead of queueing a second one, as the queues do."""

    async def submit(self, request: IndexRequest) -> Job:
        for job in self.jobs.values():
            same_ref = (job.repository, job.request.source.ref) == (request.source.repository_id, request.source.ref)
            if same_ref and not job.state.finished:
                return job
        return await super().submit(request)


class InMemoryKeyStore(KeyStore):
    """Keys by name; counts the reads of every key (`all`), which is what a cache saves. With `failure` set,
    reading them raises it, as a store that cannot be reached does."""

    def __init__(self, *keys: StoredKey) -> None:
        self.keys = {key.name: key for key in keys}
        self.reads = 0
        self.failure: RepochatError | None = None

    async def find(self, key_hash: str) -> StoredKey | None:
        return next((key for key in (await self.all()) if key.key_hash == key_hash), None)

    async def add(self, key: StoredKey) -> None:
        if key.name in self.keys:
            raise Conflict(f"a key named {key.name!r} exists")
        self.keys[key.name] = key

    async def all(self) -> list[StoredKey]:
        self.reads += 1
        if self.failure is not None:
            raise self.failure
        return sorted(self.keys.values(), key=lambda key: key.name)

    async def revoke(self, name: str) -> StoredKey:
        if name not in self.keys:
            raise NotFound(f"no key is named {name!r}")
        return self.keys.pop(name)


class ScriptedGitHubPermissions(GitHubPermissions):
    """Users by token, and the repositories each login may read; records what it was asked."""

    def __init__(self, users: dict[str, str] | None = None, readable: dict[str, set[str]] | None = None) -> None:
        self.users = users or {}
        """token -> login"""
        self.readable_by_login = readable or {}
        self.asked: list[tuple[str, frozenset[str]]] = []
        self.tokens_sent: list[str] = []

    async def user(self, token: str) -> GitHubUser | None:
        self.tokens_sent.append(token)
        login = self.users.get(token)
        return GitHubUser(login, token) if login else None

    async def readable(self, user: GitHubUser, repositories: Collection[str]) -> frozenset[str]:
        self.asked.append((user.login, frozenset(repositories)))
        allowed = {name.lower() for name in self.readable_by_login.get(user.login, set())}
        return frozenset(name.lower() for name in repositories) & allowed


class ScriptedSignIn(GitHubSignIn):
    """GitHub's OAuth flow: each code of `codes` gives its token; any other is refused."""

    def __init__(self, codes: dict[str, str]) -> None:
        self.codes = codes
        self.exchanged: list[str] = []

    def authorize_url(self, state: str) -> str:
        return f"https://github.example/login/oauth/authorize?state={state}"

    async def exchange(self, code: str) -> str:
        self.exchanged.append(code)
        if code not in self.codes:
            raise AccessDenied("GitHub refused the sign-in (bad_verification_code): sign in again")
        return self.codes[code]


class InMemorySessionStore(SessionStore):
    def __init__(self) -> None:
        self.sessions: dict[str, tuple[Session, datetime]] = {}

    async def open(self, session_id: str, session: Session, expires_at: datetime, now: datetime) -> None:
        self.sessions = {k: v for k, v in self.sessions.items() if v[1] > now}
        self.sessions[session_id] = (session, expires_at)

    async def find(self, session_id: str, now: datetime) -> Session | None:
        found = self.sessions.get(session_id)
        return found[0] if found and found[1] > now else None

    async def close(self, session_id: str) -> None:
        self.sessions.pop(session_id, None)
