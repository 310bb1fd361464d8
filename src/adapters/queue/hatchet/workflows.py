"""The index workflow on Hatchet: a parent task that plans, batch tasks that embed, then the swap.

`repochat-index` (one run per job; the run id is the job id) resolves and lists the source
with `IndexRepository.plan`, fans the files to index out as `repochat-index-batch` child
tasks (each gets the request, the snapshot's fields and its files as references, never
contents), adds up their `BatchOutcome`s as they finish, and calls `finalize`, the atomic
manifest swap. Readers see the previous version until that swap.

Why it is safe to run anywhere, any number of times:
- Chunk ids are deterministic and `write` skips stored chunks, so a retried or reassigned
  batch redoes only what is missing.
- Children are spawned with a key made of the snapshot's commit and the batch number, so a
  parent that runs again (retry, or reassigned after its worker died) gets the children it
  already spawned back from the engine instead of new ones.
- The parent's concurrency key (collection + repository, one running, the rest queued) keeps
  two jobs of one repository from interleaving, and a global cap on parents
  (`index_jobs_in_parallel`) leaves a free slot for batches on any worker with more slots
  than that cap: a waiting parent holds its slot, so without the cap parents could fill every
  slot and wait forever for batches that cannot be scheduled.

Progress is written by the parent as JSON log lines (`{"stage", "files_total", "files_done",
"chunks_written"}`) through Hatchet's log API, which keeps them, unlike live streams;
`HatchetJobQueue.get` reads the newest one.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from hatchet_sdk import (
    BulkCancelReplayOpts,
    ConcurrencyExpression,
    ConcurrencyLimitStrategy,
    Context,
    FailedTaskRunExceptionGroup,
    Hatchet,
    NonRetryableException,
    RateLimit,
    RateLimitDuration,
)
from hatchet_sdk.runnables.workflow import Standalone
from pydantic import BaseModel

from adapters.job_codec import progress_to_json, request_from_json, request_to_json, result_to_json
from application.indexing import BatchOutcome, IndexPlan, IndexRepository
from application.ports import SourceSnapshot
from domain.documents import FileEntry, SkipCounts
from domain.errors import RateLimited, RepochatError, UpstreamUnavailable
from domain.jobs import IndexRequest, Progress

log = logging.getLogger(__name__)

INDEX_TASK = "repochat-index"
BATCH_TASK = "repochat-index-batch"
EMBEDDING_RATE_LIMIT = "repochat-embedding-batches"
JOB_KEY = "repochat_job_key"
"""Additional-metadata key naming a job's collection and repository. One key only: the runs
API combines several metadata filters with OR."""

INDEX_TIMEOUT = timedelta(hours=3)
BATCH_TIMEOUT = timedelta(minutes=15)
QUEUED_JOB_TIMEOUT = timedelta(hours=24)
"""How long a job may wait for its repository's previous job (or for a worker) before Hatchet drops it."""
QUEUED_BATCH_TIMEOUT = timedelta(hours=3)
BATCH_RETRIES = 3
TRIGGER_GROUP = 500
"""Child runs triggered per bulk call."""

current_job: ContextVar[str] = ContextVar("repochat_current_job", default="-")
"""The job (parent run id) the running task works for, for log records; the worker's log filter reads it."""
current_task: ContextVar[str] = ContextVar("repochat_current_task", default="-")

RepositoryFactory = Callable[[], IndexRepository]


class IndexJobInput(BaseModel):
    """Input of `repochat-index`: the job_codec request and the key its concurrency is grouped by."""

    request: dict[str, Any]
    job_key: str


class FileRef(BaseModel):
    path: str
    blob_sha: str
    size: int


class SnapshotRef(BaseModel):
    """What a batch needs of the parent's snapshot; the file listing stays with the parent."""

    repository: str
    commit: str
    web_url: str
    etag: str | None = None
    skipped: dict[str, int] = {}


class BatchInput(BaseModel):
    request: dict[str, Any]
    snapshot: SnapshotRef
    files: list[FileRef]
    number: int
    of: int


@dataclass(frozen=True)
class IndexWorkflows:
    """The declared tasks, to give to `hatchet.worker(workflows=...)`."""

    index: Standalone[IndexJobInput, dict[str, Any]]
    batch: Standalone[BatchInput, dict[str, Any]]

    @property
    def all(self) -> list[Any]:
        return [self.index, self.batch]


def job_key(request: IndexRequest) -> str:
    """`collection:repository`; collection names cannot contain ':' so the split is unambiguous."""
    return f"{request.collection}:{request.source.repository_id}"


def job_input(request: IndexRequest) -> IndexJobInput:
    return IndexJobInput(request=request_to_json(request), job_key=job_key(request))


def job_metadata(request: IndexRequest) -> dict[str, str]:
    return {
        JOB_KEY: job_key(request),
        "repository": request.source.repository_id,
        "collection": request.collection,
    }


def put_embedding_rate_limit(hatchet: Hatchet, batches_per_minute: int) -> None:
    """The one limit every worker's batch tasks share; the last worker to start sets its value."""
    hatchet.rate_limits.put(EMBEDDING_RATE_LIMIT, batches_per_minute, RateLimitDuration.MINUTE)


def register_index_workflows(
    hatchet: Hatchet,
    repository: RepositoryFactory,
    files_per_task: int = 32,
    jobs_in_parallel: int = 4,
) -> IndexWorkflows:
    """Declare both tasks around `repository` (the use case, built by the caller's container)."""
    batch = hatchet.task(
        name=BATCH_TASK,
        input_validator=BatchInput,
        retries=BATCH_RETRIES,
        backoff_factor=2.0,
        backoff_max_seconds=60,
        execution_timeout=BATCH_TIMEOUT,
        schedule_timeout=QUEUED_BATCH_TIMEOUT,
        rate_limits=[RateLimit(static_key=EMBEDDING_RATE_LIMIT, units=1)],
    )(_batch_body(repository))
    index = hatchet.task(
        name=INDEX_TASK,
        input_validator=IndexJobInput,
        retries=2,
        backoff_factor=2.0,
        backoff_max_seconds=60,
        execution_timeout=INDEX_TIMEOUT,
        schedule_timeout=QUEUED_JOB_TIMEOUT,
        concurrency=[
            ConcurrencyExpression(
                expression="input.job_key", max_runs=1, limit_strategy=ConcurrencyLimitStrategy.GROUP_ROUND_ROBIN
            ),
            ConcurrencyExpression(
                expression="'all'", max_runs=jobs_in_parallel, limit_strategy=ConcurrencyLimitStrategy.GROUP_ROUND_ROBIN
            ),
        ],
    )(_index_body(hatchet, repository, batch, files_per_task))
    return IndexWorkflows(index, batch)


# -- the batch task


def _batch_body(repository: RepositoryFactory) -> Callable[[BatchInput, Context], Any]:
    async def run_batch(inp: BatchInput, ctx: Context) -> dict[str, Any]:
        current_job.set(ctx.parent_workflow_run_id or ctx.workflow_run_id)
        current_task.set(ctx.task_run_id)
        entries = [FileEntry(f.path, f.blob_sha, f.size) for f in inp.files]

        async def note(stage: str) -> None:
            await ctx.aio_log(stage)

        log.info("batch %d of %d: %d files, attempt %d", inp.number, inp.of, len(entries), ctx.attempt_number)
        try:
            outcome = await repository().write(request_from_json(inp.request), _snapshot(inp.snapshot), entries, note)
        except RepochatError as e:
            log.warning("batch %d of %d failed: %s", inp.number, inp.of, e.message)
            raise _task_error(e) from e
        log.info(
            "batch %d of %d done: %d chunks written, %d embedding calls",
            inp.number, inp.of, outcome.chunks_written, outcome.embedding_calls,
        )  # fmt: skip
        return outcome_to_json(outcome)

    return run_batch


# -- the parent task


def _index_body(
    hatchet: Hatchet,
    repository: RepositoryFactory,
    batch: Standalone[BatchInput, dict[str, Any]],
    files_per_task: int,
) -> Callable[[IndexJobInput, Context], Any]:
    async def run_index(inp: IndexJobInput, ctx: Context) -> dict[str, Any]:
        current_job.set(ctx.workflow_run_id)
        current_task.set(ctx.task_run_id)
        request = request_from_json(inp.request)
        progress = _ProgressLog(ctx)
        use_case = repository()
        log.info("indexing %s (attempt %d)", inp.job_key, ctx.attempt_number)
        await progress.write("listing files")
        try:
            plan = await use_case.plan(request, progress.note)
            if plan.diff is None:
                result = use_case.unchanged_result(plan)
            else:
                fan_out = _FanOut(hatchet, batch, ctx, progress, files_per_task)
                outcome = await fan_out.run(plan)
                _check_complete(plan, outcome, ctx)
                await progress.write("finalizing")
                result = await use_case.finalize(plan, outcome)
        except RepochatError as e:
            log.warning("indexing %s failed: %s", inp.job_key, e.message)
            raise _task_error(e) from e
        log.info("indexed %s: %d files, %d chunks written", inp.job_key, result.files_indexed, result.chunks_written)
        return result_to_json(result)

    return run_index


class _ProgressLog:
    """Progress as JSON log lines on the parent task, one per change (a source repeating a note is one line)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._line = ""
        self._progress = Progress()

    async def note(self, stage: str) -> None:
        await self.write(stage)

    async def write(self, stage: str, progress: Progress | None = None) -> None:
        self._progress = progress or self._progress
        line = json.dumps({"stage": stage, **progress_to_json(self._progress)})
        if line != self._line:
            self._line = line
            await self._ctx.aio_log(line)


class _FanOut:
    """Spawns one batch task per slice of the files to index and adds up their outcomes as they finish."""

    def __init__(
        self,
        hatchet: Hatchet,
        batch: Standalone[BatchInput, dict[str, Any]],
        ctx: Context,
        progress: _ProgressLog,
        files_per_task: int,
    ) -> None:
        self._hatchet = hatchet
        self._batch = batch
        self._ctx = ctx
        self._progress = progress
        self._size = max(1, files_per_task)
        self._run_ids: list[str] = []

    async def run(self, plan: IndexPlan) -> BatchOutcome:
        assert plan.diff is not None
        todo = plan.diff.to_index
        slices = [todo[i : i + self._size] for i in range(0, len(todo), self._size)]
        total = len(todo)
        await self._progress.write("embedding", Progress(files_total=total))
        if not slices:
            return BatchOutcome()
        waiting = await self._spawn(plan, slices)
        try:
            return await self._collect(waiting, slices, total)
        except FailedTaskRunExceptionGroup as e:
            await self._cancel_children()
            number = _failed_batch(e, self._run_ids)
            raise NonRetryableException(f"batch {number} of {len(slices)} failed: {_child_error(e)}") from None
        except (asyncio.CancelledError, NonRetryableException):
            # Not on other errors: a retried parent gets these children back and waits for them.
            await asyncio.shield(self._cancel_children())
            raise
        finally:
            for future in waiting:
                future.cancel()

    async def _collect(
        self, waiting: list[asyncio.Future[Any]], slices: Sequence[Sequence[FileEntry]], total: int
    ) -> BatchOutcome:
        outcome, done = BatchOutcome(), 0
        for finished in asyncio.as_completed(waiting):
            number, output = await finished
            if self._ctx.is_cancelled:  # the engine tells a task it is cancelled a second before it cancels it
                raise asyncio.CancelledError
            if not _is_outcome(output):  # what a cancelled child "returns"
                raise NonRetryableException(f"batch {number} of {len(slices)} was cancelled")
            outcome = outcome + outcome_from_json(output)
            done += len(slices[number - 1])
            await self._progress.write("embedding", Progress(total, done, outcome.chunks_written))
        return outcome

    async def _spawn(self, plan: IndexPlan, slices: Sequence[Sequence[FileEntry]]) -> list[asyncio.Future[Any]]:
        snapshot = _snapshot_ref(plan.snapshot)
        request = request_to_json(plan.request)
        items = [
            self._batch.create_bulk_run_item(
                BatchInput(
                    request=request, snapshot=snapshot, files=[_file_ref(e) for e in files], number=n, of=len(slices)
                ),
                child_key=f"{snapshot.commit}-{n}",
            )
            for n, files in enumerate(slices, start=1)
        ]
        refs = []
        for start in range(0, len(items), TRIGGER_GROUP):
            refs.extend(await self._batch.aio_run_many(items[start : start + TRIGGER_GROUP], wait_for_result=False))
        self._run_ids = [ref.workflow_run_id for ref in refs]
        log.info("spawned %d batch tasks for %d files", len(refs), len(plan.diff.to_index) if plan.diff else 0)
        return [asyncio.ensure_future(_numbered(number, ref.aio_result())) for number, ref in enumerate(refs, 1)]

    async def _cancel_children(self) -> None:
        """Hatchet does not cancel children with their parent: do it, best effort."""
        if not self._run_ids:
            return
        try:
            await self._hatchet.runs.aio_bulk_cancel(BulkCancelReplayOpts(ids=self._run_ids))
        except Exception as e:  # the parent's own outcome matters more than this clean-up
            log.warning("could not cancel the batch tasks: %s: %s", type(e).__name__, e)


async def _numbered(number: int, result: Any) -> tuple[int, dict[str, Any]]:
    output: dict[str, Any] = await result
    return number, output


# -- errors


class BatchError(Exception):
    """A transient failure of a task, worth a retry; its message is the domain error's, for users."""


def _task_error(error: RepochatError) -> Exception:
    """Upstream trouble is retried with backoff; bad input or refused access would fail again."""
    if isinstance(error, UpstreamUnavailable | RateLimited):
        return BatchError(error.message)
    return NonRetryableException(error.message)


def _check_complete(plan: IndexPlan, outcome: BatchOutcome, ctx: Context) -> None:
    """Swap the manifest only for a job still wanted whose batches accounted for every file."""
    if ctx.is_cancelled:
        raise asyncio.CancelledError
    assert plan.diff is not None
    accounted = set(outcome.chunk_counts) | set(outcome.binary_files)
    missing = [e.path for e in plan.diff.to_index if e.path not in accounted]
    if missing:
        raise NonRetryableException(f"{len(missing)} files were not indexed (e.g. {missing[0]}); nothing was changed")


def _child_error(group: FailedTaskRunExceptionGroup) -> str:
    messages = [e.exc.strip() for e in group.exceptions if e.exc.strip()]
    return "; ".join(dict.fromkeys(messages)) or group.message


def _failed_batch(group: FailedTaskRunExceptionGroup, run_ids: list[str]) -> str:
    """The failed batch's number, found from the run id in the group's message."""
    for number, run_id in enumerate(run_ids, start=1):
        if run_id in group.message:
            return str(number)
    return "?"


# -- JSON shapes


def _is_outcome(data: object) -> bool:
    return isinstance(data, dict) and "chunk_counts" in data and "chunks_written" in data


def outcome_to_json(outcome: BatchOutcome) -> dict[str, Any]:
    return {
        "chunk_counts": dict(outcome.chunk_counts),
        "binary_files": list(outcome.binary_files),
        "chunks_written": outcome.chunks_written,
        "embedding_calls": outcome.embedding_calls,
    }


def outcome_from_json(data: dict[str, Any]) -> BatchOutcome:
    return BatchOutcome(
        {str(k): int(v) for k, v in data.get("chunk_counts", {}).items()},
        tuple(str(p) for p in data.get("binary_files", ())),
        int(data.get("chunks_written", 0)),
        int(data.get("embedding_calls", 0)),
    )


def _snapshot_ref(snapshot: SourceSnapshot) -> SnapshotRef:
    return SnapshotRef(
        repository=snapshot.repository,
        commit=snapshot.commit,
        web_url=snapshot.web_url,
        etag=snapshot.etag,
        skipped=asdict(snapshot.skipped),
    )


def _snapshot(ref: SnapshotRef) -> SourceSnapshot:
    """The snapshot as a batch sees it: no listing (`files=None`), the batch's files come separately."""
    return SourceSnapshot(ref.repository, ref.commit, ref.web_url, None, SkipCounts(**ref.skipped), ref.etag)


def _file_ref(entry: FileEntry) -> FileRef:
    return FileRef(path=entry.path, blob_sha=entry.blob_sha, size=entry.size)
