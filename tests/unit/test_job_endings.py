"""What a job that stops before its swap leaves, run by the real in-process queue (SQLite in a temporary
folder) over the real use case: a shutdown keeps the chunks it wrote for the resumed run; a failure or a
user's cancel deletes them, and never those of the job of the repository that runs next."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

from adapters.queue.inprocess import InProcessJobQueue
from application.indexing import IndexRepository
from domain.jobs import IndexRequest, Job, JobState
from domain.sources import SourceKind, SourceSpec
from tests.integration.helpers import await_until
from tests.unit.fakes import FakeSource, InMemoryManifestStore, InMemoryVectorIndex, RecordingEmbedder

REQUEST = IndexRequest(SourceSpec(SourceKind.LOCAL, "/docs"))
AT_V1 = IndexRequest(replace(REQUEST.source, ref="v1"))
OTHER_COLLECTION = IndexRequest(REQUEST.source, "other")
"""Another job that runs beside REQUEST's: the same folder in another collection, whose vectors it does not share."""
ANIMALS = ["zebra", "quokka", "walrus", "narwhal", "capybara", "platypus"]
FILES = {f"page{n}.md": f"# Page {n}\n\nThe {animal} section of page {n}.\n" for n, animal in enumerate(ANIMALS)}
FILES_BEFORE_THE_GATE = 2
"""Batches (one file each, in path order, one embedding call each) a job writes before its embedder holds it."""


class GatedEmbedder(RecordingEmbedder):
    """Holds each call that embeds the third page's text until `gate` is set, so a job is caught mid-way."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.held = asyncio.Event()

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if any(ANIMALS[FILES_BEFORE_THE_GATE] in text for text in texts):
            self.held.set()
            await self.gate.wait()
        return await super().embed_documents(texts)


class Stores:
    """What outlives a process: the vector index, the manifests, the source and the job records."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.source = FakeSource(FILES, refs={"v1": {"v1.md": "# V1\n\nThe ocelot of version one.\n"}})
        self.index = InMemoryVectorIndex()
        self.manifests = InMemoryManifestStore()

    @asynccontextmanager
    async def queue(self, embedder: RecordingEmbedder, workers: int = 1) -> AsyncIterator[InProcessJobQueue]:
        """A process's queue, stopped (a shutdown) at the end of the block."""
        use_case = IndexRepository([self.source], embedder, self.index, self.manifests, files_per_batch=1)
        queue = InProcessJobQueue(self.database, use_case.execute, use_case.discard_unswapped, workers=workers)
        await queue.start()
        try:
            yield queue
        finally:
            await queue.stop()

    def chunks_of(self, request: IndexRequest) -> set[str]:
        """The ids of the stored chunks of the request's repository in its collection."""
        stored = self.index.records.get(request.collection, {})
        return {id_ for id_, (chunk, _) in stored.items() if chunk.repository == request.source.repository_id}

    async def whole(self, request: IndexRequest) -> bool:
        """Whether the request's ref is live and every chunk its manifest names is stored."""
        manifest = await self.manifests.get(request.collection, request.source.repository_id, request.source.ref)
        return manifest is not None and len(self.chunks_of(request)) >= manifest.chunk_total > 0


async def held(embedder: GatedEmbedder) -> None:
    await asyncio.wait_for(embedder.held.wait(), 4)


async def state_of(queue: InProcessJobQueue, job: Job) -> JobState:
    return (await queue.get(job.id)).state


async def test_a_shutdown_mid_job_keeps_its_chunks_and_the_resumed_job_embeds_only_the_rest(tmp_path: Path) -> None:
    stores = Stores(tmp_path / "jobs.sqlite3")
    first = GatedEmbedder()
    async with stores.queue(first) as queue:
        job = await queue.submit(REQUEST)
        await held(first)
    written = stores.chunks_of(REQUEST)
    assert len(written) == FILES_BEFORE_THE_GATE and not stores.index.deleted  # kept through the shutdown

    resumed = RecordingEmbedder()
    async with stores.queue(resumed) as queue:
        await queue.wait_idle()
        finished = await queue.get(job.id)

    assert finished.state is JobState.SUCCEEDED, finished
    assert set(resumed.embedded).isdisjoint(first.embedded)
    assert resumed.calls == len(FILES) - FILES_BEFORE_THE_GATE
    assert written <= stores.chunks_of(REQUEST) and await stores.whole(REQUEST)


async def test_a_failed_job_deletes_what_it_wrote(tmp_path: Path) -> None:
    stores = Stores(tmp_path / "jobs.sqlite3")
    async with stores.queue(RecordingEmbedder(fail_after_calls=FILES_BEFORE_THE_GATE)) as queue:
        job = await queue.submit(REQUEST)
        await queue.wait_idle()
        assert await state_of(queue, job) is JobState.FAILED
    assert stores.index.deleted and not stores.chunks_of(REQUEST)


async def test_a_job_cancelled_by_a_user_deletes_what_it_wrote_before_the_next_job_of_its_repository_runs(
    tmp_path: Path,
) -> None:
    stores = Stores(tmp_path / "jobs.sqlite3")
    embedder = GatedEmbedder()
    async with stores.queue(embedder, workers=2) as queue:
        cancelled = await queue.submit(REQUEST)
        await held(embedder)
        next_one = await queue.submit(AT_V1)  # the same repository: set aside until the first job ends
        assert await state_of(queue, next_one) is JobState.QUEUED
        written = stores.chunks_of(REQUEST)

        assert (await queue.cancel(cancelled.id)).state is JobState.CANCELLED
        embedder.gate.set()
        await queue.wait_idle()

        assert await state_of(queue, next_one) is JobState.SUCCEEDED
    assert written and written.isdisjoint(stores.chunks_of(REQUEST))
    assert await stores.whole(AT_V1)  # its chunks, written after the discard, are all there


async def test_a_resumed_job_cancelled_before_it_runs_again_deletes_what_its_earlier_run_wrote(
    tmp_path: Path,
) -> None:
    stores = Stores(tmp_path / "jobs.sqlite3")
    async with stores.queue(GatedEmbedder(), workers=2) as queue:
        other = await queue.submit(OTHER_COLLECTION)
        job = await queue.submit(REQUEST)

        async def both_held() -> bool:
            return all(len(stores.chunks_of(r)) == FILES_BEFORE_THE_GATE for r in (OTHER_COLLECTION, REQUEST))

        await await_until(both_held, 4, "both jobs caught mid-way")
    written = stores.chunks_of(REQUEST)

    embedder = GatedEmbedder()
    async with stores.queue(embedder, workers=1) as queue:  # the older job resumes first and holds the worker
        await held(embedder)
        assert await state_of(queue, job) is JobState.QUEUED
        await queue.cancel(job.id)
        embedder.gate.set()
        await queue.wait_idle()
        assert await state_of(queue, other) is JobState.SUCCEEDED
    assert written and not stores.chunks_of(REQUEST)
    assert await stores.whole(OTHER_COLLECTION)
