"""InProcessJobQueue with its real SQLite record: resume after a crash, coalescing per ref, one job per repository
at a time, cancelling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

from adapters.queue.inprocess import InProcessJobQueue
from application.ports.jobs import ProgressReporter
from domain.errors import InvalidInput
from domain.jobs import IndexRequest, IndexResult, Job, JobState, Progress
from domain.sources import SourceKind, SourceSpec
from tests.integration.helpers import await_until

REQUEST = IndexRequest(SourceSpec(SourceKind.LOCAL, "/docs"))
AT_V1 = IndexRequest(replace(REQUEST.source, ref="v1"))
"""The same repository at another ref (a folder has none, but the queue only compares them)."""
OTHER_REPOSITORY = IndexRequest(SourceSpec(SourceKind.LOCAL, "/guides"))
SETTLE_SECONDS = 0.3
"""Long enough for an idle worker to start a job it was wrongly allowed to."""


class ScriptedRuns:
    """Index runs that block until released, recording which requests ran, and when each started and ended,
    and the requests whose unswapped chunks the queue had discarded."""

    def __init__(self) -> None:
        self.started: list[IndexRequest] = []
        self.discarded: list[IndexRequest] = []
        self.events: list[tuple[str, IndexRequest]] = []
        self.release = asyncio.Event()
        self.fail_with: Exception | None = None

    async def __call__(self, request: IndexRequest, progress: ProgressReporter) -> IndexResult:
        self.started.append(request)
        self.events.append(("start", request))
        try:
            await progress.report("embedding", Progress(10, 3, 30))
            await self.release.wait()
            if self.fail_with:
                raise self.fail_with
            return IndexResult(files_indexed=10, chunks_written=30, embedding_calls=2)
        finally:
            self.events.append(("end", request))

    async def discard(self, request: IndexRequest) -> None:
        self.discarded.append(request)


async def wait_for_state(queue: InProcessJobQueue, job_id: str, state: JobState) -> None:
    async def reached() -> bool:
        return (await queue.get(job_id)).state is state

    try:
        await await_until(reached, 4, f"job reaching {state}", interval=0.02)
    except TimeoutError as e:
        raise AssertionError(f"{e}: {await queue.get(job_id)}") from None


@asynccontextmanager
async def started(runs: ScriptedRuns, database: Path, workers: int = 1) -> AsyncIterator[InProcessJobQueue]:
    """A queue on `database` running `runs`, stopped at the end of the block (a failed test's too)."""
    queue = InProcessJobQueue(database, runs, runs.discard, workers=workers)
    await queue.start()
    try:
        yield queue
    finally:
        await queue.stop()


async def running_job(queue: InProcessJobQueue, request: IndexRequest) -> Job:
    """The job of `request`, once a worker runs it."""
    job = await queue.submit(request)
    await wait_for_state(queue, job.id, JobState.RUNNING)
    return job


async def test_a_job_running_when_the_process_died_resumes_on_the_next_start(tmp_path: Path) -> None:
    database = tmp_path / "jobs.sqlite3"
    interrupted = ScriptedRuns()
    async with started(interrupted, database) as first:
        job = await running_job(first, REQUEST)

        async def progress_recorded() -> bool:  # the run reports after the job is marked running
            return (await first.get(job.id)).progress == Progress(10, 3, 30)

        await await_until(progress_recorded, 4, "the run's progress in the record", interval=0.02)
    # the process went away mid-job: the record still says running

    runs = ScriptedRuns()
    runs.release.set()
    async with started(runs, database) as second:
        await second.wait_idle()
        finished = await second.get(job.id)
    assert finished.state is JobState.SUCCEEDED and runs.started == [REQUEST]
    assert interrupted.discarded == runs.discarded == []  # the shutdown did not end the job
    assert finished.result == IndexResult(files_indexed=10, chunks_written=30, embedding_calls=2)


async def test_a_job_whose_first_run_swapped_its_version_in_reports_what_that_run_wrote(tmp_path: Path) -> None:
    """Killed after the manifest swap, before the record said done: the resumed run finds the version live."""
    database = tmp_path / "jobs.sqlite3"

    async def wrote_every_batch(_request: IndexRequest, progress: ProgressReporter) -> IndexResult:
        await progress.report("finalizing", Progress(10, 10, 30))
        await asyncio.Event().wait()
        raise AssertionError("never ends")

    first = InProcessJobQueue(database, wrote_every_batch, ScriptedRuns().discard)
    await first.start()
    job = await first.submit(REQUEST)

    async def finalizing() -> bool:
        return (await first.get(job.id)).progress == Progress(10, 10, 30)

    await await_until(finalizing, 4, "the run's last progress in the record", interval=0.02)
    await first.stop()

    async def finds_it_unchanged(_request: IndexRequest, _progress: ProgressReporter) -> IndexResult:
        return IndexResult(files_unchanged=10, commit="c0ffee")

    second = InProcessJobQueue(database, finds_it_unchanged, ScriptedRuns().discard)
    await second.start()
    await second.wait_idle()

    finished = await second.get(job.id)
    assert finished.result == IndexResult(files_indexed=10, chunks_written=30, commit="c0ffee")
    await second.stop()


async def test_requests_for_the_same_repository_coalesce(tmp_path: Path) -> None:
    runs = ScriptedRuns()
    async with started(runs, tmp_path / "jobs.sqlite3") as queue:
        first = await queue.submit(REQUEST)
        again = await queue.submit(REQUEST)
        other_collection = await queue.submit(IndexRequest(REQUEST.source, "other"))
        assert again.id == first.id and other_collection.id != first.id
        runs.release.set()
        await queue.wait_idle()
        assert len(runs.started) == 2
        later = await queue.submit(REQUEST)
        assert later.id != first.id
        await queue.wait_idle()


async def test_another_ref_of_a_running_repository_gets_its_own_job_which_runs_after(tmp_path: Path) -> None:
    runs = ScriptedRuns()
    async with started(runs, tmp_path / "jobs.sqlite3", workers=2) as queue:
        default_branch = await running_job(queue, REQUEST)

        at_v1 = await queue.submit(AT_V1)
        assert at_v1.id != default_branch.id and at_v1.request == AT_V1
        assert (await queue.submit(AT_V1)).id == at_v1.id
        assert (await queue.submit(REQUEST)).id == default_branch.id
        await asyncio.sleep(SETTLE_SECONDS)  # a second worker is idle, yet the repository is busy
        assert (await queue.get(at_v1.id)).state is JobState.QUEUED

        runs.release.set()
        await queue.wait_idle()
        assert [(await queue.get(job.id)).state for job in (default_branch, at_v1)] == [JobState.SUCCEEDED] * 2
        assert runs.events == [("start", REQUEST), ("end", REQUEST), ("start", AT_V1), ("end", AT_V1)]


async def test_other_repositories_run_in_parallel_while_a_ref_waits_for_its_repository(tmp_path: Path) -> None:
    runs = ScriptedRuns()
    async with started(runs, tmp_path / "jobs.sqlite3", workers=2) as queue:
        await running_job(queue, REQUEST)
        at_v1 = await queue.submit(AT_V1)  # taken by the idle worker, and set aside
        other = await queue.submit(OTHER_REPOSITORY)

        await wait_for_state(queue, other.id, JobState.RUNNING)  # the worker was not held up by the waiting ref
        assert (await queue.get(at_v1.id)).state is JobState.QUEUED
        runs.release.set()
        await queue.wait_idle()
        assert {request for _, request in runs.events} == {REQUEST, AT_V1, OTHER_REPOSITORY}
        assert runs.events.index(("end", REQUEST)) < runs.events.index(("start", AT_V1))
        assert (await queue.get(at_v1.id)).state is JobState.SUCCEEDED


async def test_cancelling_a_running_job_stops_it_and_keeps_it_cancelled(tmp_path: Path) -> None:
    runs = ScriptedRuns()
    async with started(runs, tmp_path / "jobs.sqlite3") as queue:
        job = await running_job(queue, REQUEST)
        cancelled = await queue.cancel(job.id)
        assert runs.discarded == [REQUEST]  # before `cancel` returned
        await queue.wait_idle()
        assert cancelled.state is JobState.CANCELLED
        assert (await queue.get(job.id)).state is JobState.CANCELLED
        assert [j.id for j in await queue.recent()] == [job.id]


async def test_a_failing_run_records_its_message(tmp_path: Path) -> None:
    runs = ScriptedRuns()
    runs.fail_with = InvalidInput("folder '/docs' does not exist")
    runs.release.set()
    async with started(runs, tmp_path / "jobs.sqlite3") as queue:
        job = await queue.submit(REQUEST)
        await queue.wait_idle()
        failed = await queue.get(job.id)
    assert failed.state is JobState.FAILED and failed.error == "folder '/docs' does not exist"
    assert runs.discarded == [REQUEST]
