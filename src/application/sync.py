"""Staying in sync: scheduled re-syncs of every indexed ref, re-syncs of the refs a push moved, and their status.

A sync is an ordinary index job of the ref, its source rebuilt from the manifest (same ref, same
include and exclude), so it is incremental and coalesces with a job of that ref already
queued or running (the queues do that). Its outcome is not reported by the queue: the status
names the pending job, and whoever reads the status next (a scheduler tick, a webhook, a listing)
asks the queue for that job and folds its outcome in (`SyncLedger.settled`). Folding is a function
of the stored status and the finished job, so two processes folding the same job write the same
record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from application.clock import Clock, utc_now
from application.ports.jobs import JobQueue
from application.ports.stores import DeliveryLog, ManifestStore, SyncStatusStore
from domain.documents import Manifest
from domain.errors import NotFound, RepochatError
from domain.jobs import IndexRequest, Job
from domain.sources import spec_of_description
from domain.sync import SyncKey, SyncSchedule, SyncStatus, SyncTrigger
from domain.webhooks import DELIVERY_MEMORY, Push


def sync_key(collection: str, manifest: Manifest) -> SyncKey:
    return SyncKey(collection, manifest.repository, manifest.ref)


def resync_request(collection: str, manifest: Manifest) -> IndexRequest:
    """The index job that syncs the manifest's ref again: same source, ref and filters."""
    spec = spec_of_description(manifest.source, manifest.ref, manifest.include, manifest.exclude)
    return IndexRequest(spec, collection)


class SyncLedger:
    """Reads and writes sync statuses, folding in the outcome of the jobs they wait for.

    `queue` is called only when a job must be submitted or looked up, so a listing with no sync
    pending never opens the job queue (whose in-process records need the data folder).
    """

    def __init__(
        self,
        statuses: SyncStatusStore,
        queue: Callable[[], JobQueue],
        schedule: SyncSchedule | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._statuses = statuses
        self._queue = queue
        self._schedule = schedule
        self._clock = clock

    async def statuses(self, collection: str | None = None) -> dict[SyncKey, SyncStatus]:
        """The statuses of one collection's refs (or all), each with its finished job folded in."""
        return {status.key: await self.settled(status) for status in await self._statuses.entries(collection)}

    async def settled(self, status: SyncStatus) -> SyncStatus:
        """The status with its pending job's outcome folded in (and saved) once that job is finished.

        When the queue cannot be asked now, the status stays as stored, to be settled next time.
        """
        if status.pending_job_id is None:
            return status
        try:
            job = await self._queue().get(status.pending_job_id)
        except NotFound:
            folded = status.without_job()
        except RepochatError:
            return status
        else:
            folded = status.with_outcome(job, self._clock())
        if folded != status:
            await self._statuses.save(folded)
        return folded

    async def submit(
        self, key: SyncKey, request: IndexRequest, trigger: SyncTrigger, status: SyncStatus | None = None
    ) -> Job:
        """Queue a sync of `key` and record it; a refused submission is recorded as a failure, then raised."""
        current = await self.settled(status or await self._statuses.get(key) or SyncStatus.new(key))
        try:
            job = await self._queue().submit(request)
        except RepochatError as e:
            await self._statuses.save(current.refused(e.message, trigger, self._clock()))
            raise
        if current.pending_job_id not in (None, job.id):  # it finished meanwhile: its outcome first
            current = await self.settled(current)
        await self._statuses.save(current.submitted(job, trigger, self._clock()))
        return job

    def next_sync_at(self, status: SyncStatus | None) -> str | None:
        """When the schedule syncs the ref next; None without a schedule."""
        if self._schedule is None:
            return None
        return self._schedule.next_sync(status, self._clock()).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RefusedSync:
    key: SyncKey
    error: str


@dataclass(frozen=True)
class SyncReport:
    """What one tick of the schedule did."""

    submitted: tuple[str, ...] = ()
    """The ids of the jobs queued (or joined)."""
    in_flight: tuple[SyncKey, ...] = ()
    """Refs whose previous sync has not finished yet."""
    backing_off: tuple[SyncKey, ...] = ()
    """Refs not due yet: synced recently, or waiting out their backoff after failures."""
    refused: tuple[RefusedSync, ...] = ()


class SyncIndexedRepositories:
    """One tick of the schedule: submit a sync of every indexed ref that is due (domain.sync)."""

    def __init__(
        self, manifests: ManifestStore, ledger: SyncLedger, schedule: SyncSchedule, clock: Clock = utc_now
    ) -> None:
        self._manifests = manifests
        self._ledger = ledger
        self._schedule = schedule
        self._clock = clock

    async def execute(self) -> SyncReport:
        now = self._clock()
        statuses = await self._ledger.statuses()
        submitted: list[str] = []
        in_flight: list[SyncKey] = []
        backing_off: list[SyncKey] = []
        refused: list[RefusedSync] = []
        for collection, manifest in await self._manifests.entries():
            key = sync_key(collection, manifest)
            status = statuses.get(key)
            if status is not None and status.pending_job_id is not None:
                in_flight.append(key)
            elif not self._schedule.is_due(status, now):
                backing_off.append(key)
            else:
                try:
                    job = await self._ledger.submit(key, resync_request(collection, manifest), SyncTrigger.SCHEDULE)
                except RepochatError as e:
                    refused.append(RefusedSync(key, e.message))
                else:
                    submitted.append(job.id)
        return SyncReport(tuple(submitted), tuple(in_flight), tuple(backing_off), tuple(refused))


@dataclass(frozen=True)
class QueuedSync:
    key: SyncKey
    job: Job


@dataclass(frozen=True)
class PushSyncs:
    queued: Sequence[QueuedSync] = ()
    replay_of: datetime | None = None
    """When the same delivery was handled before (then nothing is queued)."""


class SyncPushedRef:
    """A push GitHub told of: sync each indexed ref it moved (none when it names no indexed ref).

    A delivery is handled once: a replay of its id (`X-GitHub-Delivery`) within
    `DELIVERY_MEMORY` queues nothing. A delivery is remembered only once handled, so one that
    failed (the queue unreachable) is handled again when GitHub redelivers it.
    """

    def __init__(
        self, manifests: ManifestStore, ledger: SyncLedger, deliveries: DeliveryLog, clock: Clock = utc_now
    ) -> None:
        self._manifests = manifests
        self._ledger = ledger
        self._deliveries = deliveries
        self._clock = clock

    async def execute(self, push: Push, delivery: str | None = None) -> PushSyncs:
        """Raises what a refused submission raised (after recording it in the ref's status)."""
        if delivery:
            handled_at = await self._deliveries.handled_at(delivery)
            if handled_at is not None and handled_at > self._clock() - DELIVERY_MEMORY:
                return PushSyncs(replay_of=handled_at)
        queued = [] if push.deleted else await self._sync_moved_refs(push)
        if delivery:
            now = self._clock()
            await self._deliveries.record(delivery, now, now - DELIVERY_MEMORY)
        return PushSyncs(tuple(queued))

    async def _sync_moved_refs(self, push: Push) -> list[QueuedSync]:
        queued: list[QueuedSync] = []
        for collection, manifest in await self._manifests.entries():
            if push.updates(manifest):
                key = sync_key(collection, manifest)
                job = await self._ledger.submit(key, resync_request(collection, manifest), SyncTrigger.WEBHOOK)
                queued.append(QueuedSync(key, job))
        return queued
