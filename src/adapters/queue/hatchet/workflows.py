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
  two jobs of one repository from interleaving, whatever their refs: one ref's finalize deletes
  the chunks no live manifest names, such as those another ref's running job wrote. A global
  cap on parents (`index_jobs_in_parallel`) leaves a free slot for batches on any worker with
  more slots than that cap: a waiting parent holds its slot, so without the cap parents could
  fill every slot and wait forever for batches that cannot be scheduled.

Progress is written by the parent as JSON log lines (`{"stage", "files_total", "files_done",
"chunks_written"}`) through Hatchet's log API, which keeps them, unlike live streams;
`HatchetJobQueue.get` reads the newest one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from hatchet_sdk import (
    ConcurrencyExpression,
    ConcurrencyLimitStrategy,
    Context,
    Hatchet,
    RateLimit,
    RateLimitDuration,
)
from hatchet_sdk.runnables.workflow import BaseWorkflow, Standalone

from adapters.queue.hatchet.contract import (
    BATCH_TASK,
    CONCURRENCY_EXPRESSION,
    INDEX_TASK,
    BatchInput,
    IndexJobInput,
)
from adapters.queue.hatchet.fan_out import BatchTask, FanOut
from adapters.queue.hatchet.log_context import current_job, current_task
from adapters.queue.hatchet.progress import ProgressLog
from adapters.queue.hatchet.task_policy import (
    BACKOFF_FACTOR,
    BACKOFF_MAX_SECONDS,
    BATCH_RETRIES,
    BATCH_TIMEOUT,
    EMBEDDING_RATE_LIMIT,
    INDEX_RETRIES,
    INDEX_TIMEOUT,
    QUEUED_BATCH_TIMEOUT,
    QUEUED_JOB_TIMEOUT,
    check_complete,
    task_error,
)
from application.indexing import BatchOutcome, IndexRepository
from domain.errors import RepochatError
from domain.jobs import IndexResult

log = logging.getLogger(__name__)

RepositoryFactory = Callable[[], IndexRepository]
BatchBody = Callable[[BatchInput, Context], Coroutine[Any, Any, BatchOutcome]]
IndexBody = Callable[[IndexJobInput, Context], Coroutine[Any, Any, IndexResult]]


@dataclass(frozen=True)
class IndexWorkflows:
    """The declared tasks, to give to `hatchet.worker(workflows=...)`."""

    index: Standalone[IndexJobInput, IndexResult]
    batch: BatchTask

    @property
    def all(self) -> list[BaseWorkflow[Any]]:
        return [self.index, self.batch]


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
        backoff_factor=BACKOFF_FACTOR,
        backoff_max_seconds=BACKOFF_MAX_SECONDS,
        execution_timeout=BATCH_TIMEOUT,
        schedule_timeout=QUEUED_BATCH_TIMEOUT,
        rate_limits=[RateLimit(static_key=EMBEDDING_RATE_LIMIT, units=1)],
    )(_batch_body(repository))
    index = hatchet.task(
        name=INDEX_TASK,
        input_validator=IndexJobInput,
        retries=INDEX_RETRIES,
        backoff_factor=BACKOFF_FACTOR,
        backoff_max_seconds=BACKOFF_MAX_SECONDS,
        execution_timeout=INDEX_TIMEOUT,
        schedule_timeout=QUEUED_JOB_TIMEOUT,
        concurrency=[
            ConcurrencyExpression(
                expression=CONCURRENCY_EXPRESSION,
                max_runs=1,
                limit_strategy=ConcurrencyLimitStrategy.GROUP_ROUND_ROBIN,
            ),
            ConcurrencyExpression(
                expression="'all'", max_runs=jobs_in_parallel, limit_strategy=ConcurrencyLimitStrategy.GROUP_ROUND_ROBIN
            ),
        ],
    )(_index_body(hatchet, repository, batch, files_per_task))
    return IndexWorkflows(index, batch)


def _batch_body(repository: RepositoryFactory) -> BatchBody:
    # The SDK serialises what a task returns through a TypeAdapter of its return annotation.
    async def run_batch(inp: BatchInput, ctx: Context) -> BatchOutcome:
        current_job.set(ctx.parent_workflow_run_id or ctx.workflow_run_id)
        current_task.set(ctx.task_run_id)

        async def note(stage: str) -> None:
            await ctx.aio_log(stage)

        log.info("batch %d of %d: %d files, attempt %d", inp.number, inp.of, len(inp.files), ctx.attempt_number)
        try:
            outcome = await repository().write(inp.request, inp.snapshot.without_listing(), inp.files, note)
        except RepochatError as e:
            log.warning("batch %d of %d failed: %s", inp.number, inp.of, e.message)
            raise task_error(e) from e
        log.info(
            "batch %d of %d done: %d chunks written, %d embedding calls",
            inp.number, inp.of, outcome.chunks_written, outcome.embedding_calls,
        )  # fmt: skip
        return outcome

    return run_batch


def _index_body(hatchet: Hatchet, repository: RepositoryFactory, batch: BatchTask, files_per_task: int) -> IndexBody:
    async def run_index(inp: IndexJobInput, ctx: Context) -> IndexResult:
        current_job.set(ctx.workflow_run_id)
        current_task.set(ctx.task_run_id)
        progress = ProgressLog(ctx.aio_log)
        use_case = repository()
        log.info("indexing %s (attempt %d)", inp.job_key, ctx.attempt_number)
        await progress.write("listing files")
        try:
            plan = await use_case.plan(inp.request, progress.note)
            if plan.diff is None:
                result = use_case.unchanged_result(plan)
            else:
                outcome = await FanOut(hatchet, batch, ctx, progress, files_per_task).run(plan)
                if ctx.is_cancelled:  # a job no longer wanted keeps its previous version
                    raise asyncio.CancelledError
                check_complete(plan, outcome)
                await progress.write("finalizing")
                result = await use_case.finalize(plan, outcome)
        except RepochatError as e:
            log.warning("indexing %s failed: %s", inp.job_key, e.message)
            raise task_error(e) from e
        log.info("indexed %s: %d files, %d chunks written", inp.job_key, result.files_indexed, result.chunks_written)
        return result

    return run_index
