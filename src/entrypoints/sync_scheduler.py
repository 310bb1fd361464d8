"""The in-process schedule of syncs: one task, in the process that runs the in-process queue's jobs.

`repochat serve` owns the data folder and runs the jobs, so it also runs the schedule: on each
tick of REPOCHAT_SYNC_INTERVAL (domain.sync: the multiples of the interval since the epoch) it
runs `SyncIndexedRepositories` once. A tick that fails is logged and the next one tries again.
With Hatchet the workers' cron workflow runs the schedule instead (adapters.queue.hatchet.sync_workflow).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from application.clock import Clock, utc_now
from application.sync import SyncIndexedRepositories, SyncReport
from domain.errors import RepochatError
from domain.sync import SyncSchedule

log = logging.getLogger(__name__)


class SyncScheduler:
    def __init__(
        self, sync: Callable[[], SyncIndexedRepositories], schedule: SyncSchedule, clock: Clock = utc_now
    ) -> None:
        self._sync = sync
        self._schedule = schedule
        self._clock = clock

    async def run(self) -> None:
        """Tick until cancelled."""
        log.info("syncing every indexed ref every %s", self._schedule.interval)
        last_tick: datetime | None = None
        while True:
            now = self._clock()
            # A sleep may end a moment before its tick: never the same tick twice.
            tick = self._schedule.tick_after(max(now, last_tick) if last_tick else now)
            await asyncio.sleep((tick - now).total_seconds())
            last_tick = tick
            await self._tick()

    async def _tick(self) -> None:
        try:
            report = await self._sync().execute()
        except RepochatError as e:
            log.warning("the scheduled sync failed: %s", e.message)
        except Exception:
            log.exception("the scheduled sync failed")
        else:
            log_report(report)


def log_report(report: SyncReport) -> None:
    log.info(
        "scheduled sync: %d jobs queued, %d refs still syncing, %d not due yet (synced lately or backing off)",
        len(report.submitted), len(report.in_flight), len(report.backing_off),
    )  # fmt: skip
    for refused in report.refused:
        log.warning("the scheduled sync of %s could not be queued: %s", refused.key, refused.error)
