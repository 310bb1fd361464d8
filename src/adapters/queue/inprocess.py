"""InProcessJobQueue: index jobs run by asyncio workers in this process, recorded in SQLite.

Job records survive a crash: jobs left queued or running are run again on the next
start, which is safe because indexing is idempotent (deterministic chunk ids, and the
manifest swap happens last). A resumed job reports what both runs wrote: the use case counts the
chunks an earlier run stored as the job's, and when the earlier run had written every batch (it may
have swapped the version in before the process died, so the resumed run finds it unchanged), the
files and chunks that run recorded in its progress are the job's result.

A job that ends for good without its swap (it failed, or a user cancelled it) has the chunks it wrote
deleted (`discard`) before the next job of its repository may start; one stopped by a shutdown keeps
them, and its resumed run skips what it finds stored. A job cancelled while queued again after a
restart has the chunks its earlier run wrote deleted when a worker takes it off the queue.

A job is one ref of one repository in one collection: a submission joins the unfinished job
of its ref, and jobs of one repository in one collection run one at a time whatever their
ref, because one ref's finalize deletes the chunks no live manifest names, which may be
chunks another ref's running job has written but not made live yet. A worker that takes a
job whose repository is busy sets it aside until that repository's running job ends, and
takes the next job meanwhile, so other repositories' jobs are not held up.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from adapters.domain_json import INDEX_REQUEST, INDEX_RESULT, PROGRESS
from application.ports.jobs import JobQueue, ProgressReporter
from domain.errors import NotFound, RepochatError
from domain.jobs import IndexRequest, IndexResult, Job, JobState, Progress

log = logging.getLogger(__name__)
T = TypeVar("T")

RunIndex = Callable[[IndexRequest, ProgressReporter], Awaitable[IndexResult]]
Discard = Callable[[IndexRequest], Awaitable[object]]
"""Deletes what a job that ended without its swap wrote (`IndexRepository.discard_unswapped`); best effort."""
RepositoryKey = tuple[str, str]
"""(collection, repository): the jobs that must not run at the same time."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    repository TEXT NOT NULL,
    collection TEXT NOT NULL,
    request TEXT NOT NULL,
    state TEXT NOT NULL,
    stage TEXT NOT NULL,
    progress TEXT,
    result TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_open ON jobs (repository, collection, state);
"""
_UNFINISHED = (JobState.QUEUED.value, JobState.RUNNING.value)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


WriteProgress = Callable[[str, Progress], Awaitable[None]]
"""Records a job's stage and progress."""


class _JobProgress(ProgressReporter):
    """Writes progress to the job record, at most every `interval` seconds unless the stage changes."""

    def __init__(self, write: WriteProgress, interval: float = 0.5) -> None:
        self._write = write
        self._interval = interval
        self._last_write = 0.0
        self._last_stage = ""

    async def report(self, stage: str, progress: Progress) -> None:
        now = time.monotonic()
        if stage == self._last_stage and now - self._last_write < self._interval:
            return
        self._last_write, self._last_stage = now, stage
        await self._write(stage, progress)


class InProcessJobQueue(JobQueue):
    def __init__(self, database: Path, run_index: RunIndex, discard: Discard, workers: int = 1) -> None:
        self._database = database
        self._run_index = run_index
        self._discard = discard
        self._workers = workers
        self._pending: asyncio.Queue[str] = asyncio.Queue()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._cancelled_by_user: set[str] = set()
        """Running jobs `cancel` is stopping (a shutdown stops the others, which resume)."""
        self._busy: set[RepositoryKey] = set()
        self._set_aside: dict[RepositoryKey, deque[str]] = {}
        self._worker_tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        self._schema_ready = False
        self._finished_before_restart: dict[str, Progress] = {}
        """Progress of resumed jobs whose earlier run had written every batch, by job id."""

    async def start(self) -> None:
        """Requeue what a previous process left unfinished and start the workers."""
        rows = await self._fetch("SELECT id, progress FROM jobs WHERE state IN (?, ?) ORDER BY created_at", _UNFINISHED)
        for row in rows:
            earlier = PROGRESS.loads(row["progress"]) if row["progress"] else Progress()
            if 0 < earlier.files_total == earlier.files_done:
                self._finished_before_restart[row["id"]] = earlier
            log.info("resuming job %s left unfinished by a previous run", row["id"])
            await self._update(row["id"], state=JobState.QUEUED, stage="queued (resumed)")
            self._pending.put_nowait(row["id"])
        self._worker_tasks = [asyncio.create_task(self._work()) for _ in range(self._workers)]

    async def stop(self) -> None:
        """Stop workers; running jobs stay 'running' in the record and resume on the next start."""
        for task in self._worker_tasks + list(self._running.values()):
            task.cancel()
        await asyncio.gather(*self._worker_tasks, *self._running.values(), return_exceptions=True)
        self._worker_tasks = []
        self._set_aside.clear()  # still queued in the record: the next start queues them again

    async def submit(self, request: IndexRequest) -> Job:
        """The unfinished job of the request's ref of the repository in the collection, else a new one."""
        async with self._lock:
            repository = request.source.repository_id
            rows = await self._fetch(
                "SELECT * FROM jobs WHERE repository = ? AND collection = ? AND state IN (?, ?) ORDER BY created_at",
                (repository, request.collection, *_UNFINISHED),
            )
            same_ref = [job for job in map(_job, rows) if job.request.source.ref == request.source.ref]
            if same_ref:
                return same_ref[0]
            job_id = uuid.uuid4().hex
            now = _now()
            await self._execute(
                "INSERT INTO jobs (id, repository, collection, request, state, stage, progress, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, repository, request.collection, INDEX_REQUEST.dumps(request),
                 JobState.QUEUED.value, "queued", PROGRESS.dumps(Progress()), now, now),
            )  # fmt: skip
        self._pending.put_nowait(job_id)
        return await self.get(job_id)

    async def get(self, job_id: str) -> Job:
        rows = await self._fetch("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            raise NotFound(f"no job with id {job_id!r}")
        return _job(rows[0])

    async def recent(self, limit: int = 50) -> list[Job]:
        rows = await self._fetch("SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?", (limit,))
        return [_job(row) for row in rows]

    async def cancel(self, job_id: str) -> Job:
        job = await self.get(job_id)
        if job.state.finished:
            return job
        await self._update(job_id, state=JobState.CANCELLED, stage="cancelled")
        task = self._running.get(job_id)
        if task:
            self._cancelled_by_user.add(job_id)
            task.cancel()
            await asyncio.wait([task])  # a store write in flight lands first, then the job's chunks go
        return await self.get(job_id)

    async def ping(self) -> None:
        await self._fetch("SELECT 1", ())

    async def wait_idle(self) -> None:
        """Return once no job is queued or running in this process (used by the CLI and tests)."""
        await self._pending.join()

    async def _work(self) -> None:
        while True:
            job_id = await self._pending.get()
            try:
                job = await self.get(job_id)
                if job.state is JobState.QUEUED:
                    await self._run_alone(job, self._run)
                elif job.state is JobState.CANCELLED and job.progress.files_total:
                    # Resumed, then cancelled before it ran again: its earlier run got to its batches.
                    await self._run_alone(job, self._discard_earlier_run)
            finally:
                self._pending.task_done()

    async def _run_alone(self, job: Job, work: Callable[[Job], Coroutine[Any, Any, None]]) -> None:
        """Do `work` for `job`, or set the job aside while another job of its repository in its collection runs."""
        key = (job.request.collection, job.repository)
        if key in self._busy:
            self._set_aside.setdefault(key, deque()).append(job.id)
            return
        self._busy.add(key)
        try:
            task = asyncio.create_task(work(job))
            self._running[job.id] = task
            await asyncio.wait([task])
        finally:
            self._running.pop(job.id, None)
            self._busy.discard(key)
            self._queue_next_set_aside(key)

    def _queue_next_set_aside(self, key: RepositoryKey) -> None:
        """Queue the oldest job set aside for `key` again (before the job that ran is done, so `wait_idle` waits)."""
        waiting = self._set_aside.get(key)
        if not waiting:
            return
        self._pending.put_nowait(waiting.popleft())
        if not waiting:
            del self._set_aside[key]

    async def _run(self, job: Job) -> None:
        await self._update(job.id, state=JobState.RUNNING, stage="starting")
        try:
            result = await self._run_index(job.request, _JobProgress(partial(self._write_progress, job.id)))
        except asyncio.CancelledError:
            if job.id in self._cancelled_by_user:  # not a shutdown, after which the job resumes
                await self._discard(job.request)
            return
        except RepochatError as e:
            await self._discard(job.request)  # before the record says failed: whoever waits for it may then stop
            await self._update(job.id, state=JobState.FAILED, stage="failed", error=e.message)
            return
        except Exception as e:
            log.exception("job %s failed", job.id)
            await self._discard(job.request)
            await self._update(job.id, state=JobState.FAILED, stage="failed", error=f"{type(e).__name__}: {e}")
            return
        finally:
            earlier = self._finished_before_restart.pop(job.id, None)
            self._cancelled_by_user.discard(job.id)
        if earlier is not None:
            result = _with_earlier_run(result, earlier)
        progress = Progress(result.files_indexed + result.files_unchanged, result.files_indexed
                            + result.files_unchanged, result.chunks_written)  # fmt: skip
        await self._update(job.id, state=JobState.SUCCEEDED, stage="done", progress=progress, result=result)

    async def _discard_earlier_run(self, job: Job) -> None:
        await self._discard(job.request)

    async def _write_progress(self, job_id: str, stage: str, progress: Progress) -> None:
        await self._update(job_id, state=JobState.RUNNING, stage=stage, progress=progress)

    async def _update(
        self,
        job_id: str,
        *,
        state: JobState,
        stage: str,
        progress: Progress | None = None,
        result: IndexResult | None = None,
        error: str | None = None,
    ) -> None:
        """Record a change; a cancelled job's record is final and never overwritten."""
        sets = ["state = ?", "stage = ?", "updated_at = ?"]
        values: list[Any] = [state.value, stage, _now()]
        if progress is not None:
            sets.append("progress = ?")
            values.append(PROGRESS.dumps(progress))
        if result is not None:
            sets.append("result = ?")
            values.append(INDEX_RESULT.dumps(result))
        if error is not None:
            sets.append("error = ?")
            values.append(error)
        guard = "" if state is JobState.QUEUED else " AND state != 'cancelled'"
        await self._execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?{guard}", (*values, job_id))

    async def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        await self._with_db(lambda db: db.execute(sql, params))

    async def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[sqlite3.Row]:
        return await self._with_db(lambda db: list(db.execute(sql, params).fetchall()))

    async def _with_db(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` in one transaction on a short-lived connection, off the event loop."""

        def run() -> T:
            db = sqlite3.connect(self._database, timeout=30)
            db.row_factory = sqlite3.Row
            try:
                with db:
                    if not self._schema_ready:
                        db.executescript(_SCHEMA)
                        self._schema_ready = True
                    return work(db)
            finally:
                db.close()

        return await asyncio.to_thread(run)


def _with_earlier_run(result: IndexResult, earlier: Progress) -> IndexResult:
    """The result of a job whose earlier run wrote every batch before the process died.

    A resumed run that indexed nothing found the version already live: the earlier run swapped it in,
    and what it recorded (files done, chunks written) is what the job wrote. Otherwise the resumed run
    read every file again and its own counts include the earlier run's chunks.
    """
    if result.files_indexed or result.chunks_written:
        return result
    files = min(earlier.files_done, result.files_unchanged)
    return replace(
        result,
        files_indexed=files,
        files_unchanged=result.files_unchanged - files,
        chunks_written=earlier.chunks_written,
    )


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        repository=row["repository"],
        request=INDEX_REQUEST.loads(row["request"]),
        state=JobState(row["state"]),
        stage=row["stage"],
        progress=PROGRESS.loads(row["progress"]) if row["progress"] else Progress(),
        result=INDEX_RESULT.loads(row["result"]) if row["result"] else None,
        error=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
