"""The sync schedule on Hatchet: `repochat-sync`, a cron-triggered task that runs one tick of it.

Workers declare the task with the cron expression of REPOCHAT_SYNC_INTERVAL
(`SyncSchedule.cron`), so the engine triggers it once per tick for the whole cluster, however
many API replicas and workers there are, and whichever worker takes it runs
`SyncIndexedRepositories`, which queues the syncs as ordinary index jobs. Without an interval the
task is declared with no cron: the workflow version a worker registers replaces the engine's, so
unsetting the interval stops the schedule. Ticks never overlap (one at a time, a tick that finds
another still running is dropped), and one that no worker takes within an interval is dropped
too: the next tick does the same work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from hatchet_sdk import (
    ConcurrencyExpression,
    ConcurrencyLimitStrategy,
    Context,
    EmptyModel,
    Hatchet,
    NonRetryableException,
)
from hatchet_sdk.runnables.workflow import Standalone

from adapters.queue.hatchet.contract import SYNC_TASK
from adapters.queue.hatchet.log_context import current_job, current_task
from application.sync import SyncIndexedRepositories, SyncReport
from domain.errors import RepochatError
from domain.sync import SyncSchedule

log = logging.getLogger(__name__)

SYNC_TIMEOUT = timedelta(minutes=15)
"""A tick only queues jobs (one submission per indexed ref): minutes at most."""
UNSCHEDULED_TIMEOUT = timedelta(minutes=5)
"""How long a tick may wait for a worker when no interval says."""

SyncTask = Standalone[EmptyModel, SyncReport]


def register_sync_workflow(
    hatchet: Hatchet, sync: Callable[[], SyncIndexedRepositories], schedule: SyncSchedule | None
) -> SyncTask:
    """Declare the tick around `sync` (the use case, built by the caller's container)."""

    async def run_sync(_input: EmptyModel, ctx: Context) -> SyncReport:
        current_job.set(ctx.workflow_run_id)
        current_task.set(ctx.task_run_id)
        if schedule is None:
            raise NonRetryableException("REPOCHAT_SYNC_INTERVAL is not set on this worker: no scheduled sync runs")
        try:
            report = await sync().execute()
        except RepochatError as e:
            log.warning("the scheduled sync failed: %s", e.message)
            raise NonRetryableException(e.message) from e
        log.info(
            "scheduled sync: %d jobs queued, %d refs still syncing, %d not due yet, %d could not be queued",
            len(report.submitted), len(report.in_flight), len(report.backing_off), len(report.refused),
        )  # fmt: skip
        return report

    return hatchet.task(
        name=SYNC_TASK,
        on_crons=[schedule.cron()] if schedule else [],
        execution_timeout=SYNC_TIMEOUT,
        schedule_timeout=schedule.interval if schedule else UNSCHEDULED_TIMEOUT,
        concurrency=ConcurrencyExpression(
            expression="'sync'", max_runs=1, limit_strategy=ConcurrencyLimitStrategy.CANCEL_NEWEST
        ),
    )(run_sync)
