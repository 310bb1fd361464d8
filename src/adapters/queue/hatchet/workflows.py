"""The index workflow on Hatchet: `repochat-index`, one run per job, and its `repochat-index-batch` tasks.

Both are thin: the parent runs `IndexRepository.execute` with `FanOutBatches`, whose batch tasks
run `IndexRepository.write` on any worker. docs/hatchet.md says why it is safe to run anywhere,
any number of times.

A job's chunks outlive a failed attempt, for the retry to find; the parent deletes them
(`IndexRepository.discard_unswapped`) when its run fails for good, before it ends, while the run
still holds its repository's concurrency slot. A run with `discard` set does only that, for a job
a user cancelled (`HatchetJobQueue.cancel` queues it under the job's concurrency key).
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
    NonRetryableException,
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
from adapters.queue.hatchet.fan_out import BatchTask, FanOutBatches
from adapters.queue.hatchet.log_context import current_job, current_task
from adapters.queue.hatchet.progress import ProgressLog
from adapters.queue.hatchet.task_policy import (
    BATCH_POLICY,
    EMBEDDING_RATE_LIMIT,
    INDEX_POLICY,
    attempt_error,
    task_error,
)
from application.indexing import IndexRepository
from application.ports.jobs import BatchOutcome, BatchRunner
from domain.errors import RepochatError
from domain.jobs import IndexResult

log = logging.getLogger(__name__)

CANCELLED_BATCHES_SETTLE_SECONDS = 3.0
"""How long a discard run waits before it deletes: the SDK lets a cancelled task run on for a second
before it cancels it, so a batch task of the cancelled job may still store what it just embedded."""

RepositoryFactory = Callable[[BatchRunner | None], IndexRepository]
"""Builds the use case with the given runner of its batches (None: in this process, for a batch task)."""
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
    hatchet: Hatchet, repository: RepositoryFactory, jobs_in_parallel: int = 4
) -> IndexWorkflows:
    """Declare both tasks around `repository` (the use case, built by the caller's container)."""
    batch = hatchet.task(
        name=BATCH_TASK,
        input_validator=BatchInput,
        **BATCH_POLICY.options(),
        rate_limits=[RateLimit(static_key=EMBEDDING_RATE_LIMIT, units=1)],
    )(_batch_body(repository))
    index = hatchet.task(
        name=INDEX_TASK,
        input_validator=IndexJobInput,
        **INDEX_POLICY.options(),
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
    )(_index_body(hatchet, repository, batch))
    return IndexWorkflows(index, batch)


def _batch_body(repository: RepositoryFactory) -> BatchBody:
    # The SDK serialises what a task returns through a TypeAdapter of its return annotation.
    async def run_batch(inp: BatchInput, ctx: Context) -> BatchOutcome:
        current_job.set(ctx.parent_workflow_run_id or ctx.workflow_run_id)
        current_task.set(ctx.task_run_id)
        batch = inp.batch

        async def note(stage: str) -> None:
            await ctx.aio_log(stage)

        log.info("batch %d of %d: %d files, attempt %d", batch.number, batch.of, len(batch.files), ctx.attempt_number)
        try:
            outcome = await repository(None).write(batch, note)
        except RepochatError as e:
            log.warning("batch %d of %d failed: %s", batch.number, batch.of, e.message)
            raise task_error(e) from e
        log.info(
            "batch %d of %d done: %d chunks written, %d embedding calls",
            batch.number, batch.of, outcome.chunks_written, outcome.embedding_calls,
        )  # fmt: skip
        return outcome

    return run_batch


def _index_body(hatchet: Hatchet, repository: RepositoryFactory, batch: BatchTask) -> IndexBody:
    async def run_index(inp: IndexJobInput, ctx: Context) -> IndexResult:
        current_job.set(ctx.workflow_run_id)
        current_task.set(ctx.task_run_id)
        use_case = repository(FanOutBatches(hatchet, batch, ctx))
        if inp.discard:
            await asyncio.sleep(CANCELLED_BATCHES_SETTLE_SECONDS)
            deleted = await use_case.discard_unswapped(inp.request)
            log.info("deleted %d chunks a cancelled job of %s wrote", deleted, inp.job_key)
            return IndexResult(chunks_deleted=deleted)
        log.info("indexing %s (attempt %d)", inp.job_key, ctx.attempt_number)
        try:
            result = await use_case.execute(inp.request, ProgressLog(ctx.aio_log))
        except Exception as e:
            log.warning("indexing %s failed: %s", inp.job_key, e.message if isinstance(e, RepochatError) else e)
            error = attempt_error(e, ctx.retry_count, INDEX_POLICY)
            if isinstance(error, NonRetryableException):  # the run ends: no retry will need what it wrote
                await use_case.discard_unswapped(inp.request)
            if error is e:
                raise
            raise error from e
        log.info("indexed %s: %d files, %d chunks written", inp.job_key, result.files_indexed, result.chunks_written)
        return result

    return run_index
