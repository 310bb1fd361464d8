"""Scheduled syncs, pushes and sync statuses, against recording fakes of the manifests, statuses and job queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from application.repositories import ForgetRepository, GetRepository, ListRepositories
from application.sync import PushSyncs, SyncIndexedRepositories, SyncLedger, SyncPushedRef
from domain.documents import Manifest
from domain.errors import UpstreamUnavailable
from domain.jobs import IndexResult
from domain.sources import SourceKind, SourceSpec
from domain.sync import SyncKey, SyncResult, SyncSchedule, SyncTrigger
from domain.webhooks import Push
from tests.unit.fakes import (
    FinishingJobQueue,
    InMemoryDeliveryLog,
    InMemoryManifestStore,
    InMemorySyncStatusStore,
    InMemoryVectorIndex,
)

START = datetime(2025, 3, 1, 12, 0, 5, tzinfo=UTC)
HOUR = timedelta(hours=1)
WIDGETS = Manifest("acme/widgets", "github:Acme/Widgets", "c1", ref=None, include=("docs/**",), exclude=("*.txt",))
GADGETS = Manifest("acme/gadgets", "github:acme/gadgets", "c1", ref="v2")
WIDGETS_KEY = SyncKey("default", "acme/widgets")
GADGETS_KEY = SyncKey("other", "acme/gadgets", "v2")


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class World:
    """The manifests of two indexed refs, their statuses, a queue, and the use cases over them."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.manifests = InMemoryManifestStore()
        self.manifests.manifests = {
            ("default", WIDGETS.repository, WIDGETS.ref or ""): WIDGETS,
            ("other", GADGETS.repository, GADGETS.ref or ""): GADGETS,
        }
        self.statuses = InMemorySyncStatusStore()
        self.queue = FinishingJobQueue()
        self.queue_opened = 0
        schedule = SyncSchedule(HOUR)
        self.ledger = SyncLedger(self.statuses, self._open_queue, schedule, self.clock)
        self.tick = SyncIndexedRepositories(self.manifests, self.ledger, schedule, self.clock)
        self.deliveries = InMemoryDeliveryLog()
        self.push = SyncPushedRef(self.manifests, self.ledger, self.deliveries, self.clock)

    def _open_queue(self) -> FinishingJobQueue:
        self.queue_opened += 1
        return self.queue

    def pending(self, key: SyncKey) -> str:
        job_id = self.statuses.statuses[key].pending_job_id
        assert job_id is not None
        return job_id


@pytest.fixture
def world() -> World:
    return World()


async def test_a_tick_resyncs_every_indexed_ref_with_its_source_ref_and_filters(world: World) -> None:
    report = await world.tick.execute()

    assert report.submitted == ("job-1", "job-2")  # in the order of the listing: by repository
    gadgets, widgets = (r.source for r in world.queue.submitted)
    assert widgets == SourceSpec(SourceKind.GITHUB, "Acme/Widgets", None, None, ("docs/**",), ("*.txt",))
    assert gadgets.ref == "v2" and [r.collection for r in world.queue.submitted] == ["other", "default"]
    status = world.statuses.statuses[WIDGETS_KEY]
    assert status.pending_job_id == "job-2" and status.last_trigger is SyncTrigger.SCHEDULE

    world.clock.now += HOUR
    again = await world.tick.execute()
    assert again.submitted == () and set(again.in_flight) == {WIDGETS_KEY, GADGETS_KEY}


async def test_a_finished_job_is_folded_in_and_the_ref_waits_for_the_next_interval(world: World) -> None:
    await world.tick.execute()
    world.queue.finish("job-2", IndexResult(files_indexed=1, files_unchanged=3, commit="c2"))
    world.queue.finish("job-1", IndexResult(files_unchanged=2, commit="c1"))

    world.clock.now += timedelta(minutes=10)
    early = await world.tick.execute()
    assert early.submitted == () and set(early.backing_off) == {WIDGETS_KEY, GADGETS_KEY}
    widgets, gadgets = world.statuses.statuses[WIDGETS_KEY], world.statuses.statuses[GADGETS_KEY]
    assert (widgets.last_result, widgets.commit, widgets.pending_job_id) == (SyncResult.UPDATED, "c2", None)
    assert gadgets.last_result is SyncResult.UNCHANGED and gadgets.last_job_id == "job-1"

    world.clock.now = START + HOUR
    assert len((await world.tick.execute()).submitted) == 2


async def test_a_failing_ref_backs_off_and_shows_why(world: World) -> None:
    """Hourly ticks sync the healthy ref each hour, the failing one 2, 4, then 8 hours after its last attempt."""
    attempts = []
    for hour in range(16):
        world.clock.now = START + hour * HOUR
        report = await world.tick.execute()
        if WIDGETS_KEY not in report.backing_off:
            attempts.append(hour)
            world.queue.finish(world.pending(WIDGETS_KEY), error="ref 'main' not found")
        world.queue.finish(world.pending(GADGETS_KEY), IndexResult(files_unchanged=2))
    assert attempts == [0, 2, 6, 14]
    status = (await world.ledger.statuses())[WIDGETS_KEY]
    assert (status.consecutive_failures, status.last_error) == (4, "ref 'main' not found")
    assert world.ledger.next_sync_at(status) == "2025-03-02T18:00:00+00:00"  # 16 hours after the last attempt
    assert world.statuses.statuses[GADGETS_KEY].consecutive_failures == 0


async def test_a_refused_submission_is_a_failure_and_the_other_refs_still_sync(world: World) -> None:
    world.queue.refusal = UpstreamUnavailable("cannot reach Hatchet")
    report = await world.tick.execute()
    assert [r.key for r in report.refused] == [GADGETS_KEY, WIDGETS_KEY]
    status = world.statuses.statuses[WIDGETS_KEY]
    assert status.last_result is SyncResult.FAILED and status.last_error == "cannot reach Hatchet"
    assert status.consecutive_failures == 1 and status.pending_job_id is None


async def test_a_push_resyncs_the_refs_it_moved_and_nothing_else(world: World) -> None:
    queued = (await world.push.execute(Push("acme/widgets", "refs/heads/main", "main"))).queued
    assert [(q.key, q.job.id) for q in queued] == [(WIDGETS_KEY, "job-1")]
    assert world.statuses.statuses[WIDGETS_KEY].last_trigger is SyncTrigger.WEBHOOK

    assert (await world.push.execute(Push("acme/widgets", "refs/heads/dev", "main"))).queued == ()
    assert (await world.push.execute(Push("acme/gadgets", "refs/tags/v1", "main"))).queued == ()
    assert (await world.push.execute(Push("acme/gadgets", "refs/tags/v2", "main", deleted=True))).queued == ()
    gadgets = await world.push.execute(Push("acme/gadgets", "refs/tags/v2", "main"))
    assert [q.key for q in gadgets.queued] == [GADGETS_KEY]
    assert len(world.queue.submitted) == 2


async def test_a_push_folds_in_the_previous_sync_before_queueing_the_next(world: World) -> None:
    await world.push.execute(Push("acme/widgets", "refs/heads/main", "main"))
    world.queue.finish("job-1", error="GitHub answered 502")
    await world.push.execute(Push("acme/widgets", "refs/heads/main", "main"))
    status = world.statuses.statuses[WIDGETS_KEY]
    assert (status.pending_job_id, status.last_job_id, status.consecutive_failures) == ("job-2", "job-1", 1)


async def test_a_replayed_delivery_queues_nothing_for_a_day(world: World) -> None:
    push = Push("acme/widgets", "refs/heads/main", "main")
    first = await world.push.execute(push, delivery="d-1")
    world.clock.now += HOUR
    replay = await world.push.execute(push, delivery="d-1")
    assert len(first.queued) == 1 and replay == PushSyncs(replay_of=START)
    assert len(world.queue.submitted) == 1

    assert len((await world.push.execute(push, delivery="d-2")).queued) == 1  # another delivery of the same push
    world.clock.now += timedelta(days=1, minutes=1)
    assert len((await world.push.execute(push, delivery="d-1")).queued) == 1  # forgotten after a day
    assert set(world.deliveries.handled) == {"d-1"}  # d-2 was handled more than a day before


async def test_a_delivery_that_failed_is_handled_again_when_redelivered(world: World) -> None:
    push = Push("acme/widgets", "refs/heads/main", "main")
    world.queue.refusal = UpstreamUnavailable("cannot reach Hatchet")
    with pytest.raises(UpstreamUnavailable):
        await world.push.execute(push, delivery="d-1")
    world.queue.refusal = None
    assert len((await world.push.execute(push, delivery="d-1")).queued) == 1


async def test_a_refused_push_sync_is_recorded_then_raised(world: World) -> None:
    world.queue.refusal = UpstreamUnavailable("cannot reach Hatchet")
    with pytest.raises(UpstreamUnavailable):
        await world.push.execute(Push("acme/widgets", "refs/heads/main", "main"))
    assert world.statuses.statuses[WIDGETS_KEY].last_error == "cannot reach Hatchet"


async def test_listings_show_each_refs_sync_and_open_the_queue_only_for_a_pending_job(world: World) -> None:
    listed = await ListRepositories(world.manifests, world.ledger).execute()
    assert [(e.sync, e.next_sync_at) for e in listed] == [(None, "2025-03-01T13:00:00+00:00")] * 2
    assert world.queue_opened == 0

    await world.push.execute(Push("acme/widgets", "refs/heads/main", "main"))
    world.queue.finish("job-1", IndexResult(files_deleted=1, commit="c2"))
    found = await GetRepository(ListRepositories(world.manifests, world.ledger)).execute("acme/widgets")
    sync = found[0].sync
    assert sync is not None and sync.last_result is SyncResult.UPDATED and sync.pending_job_id is None
    assert world.statuses.statuses[WIDGETS_KEY] == sync  # folded once, for every reader after
    saves = world.statuses.saves
    await ListRepositories(world.manifests, world.ledger).execute()
    assert world.statuses.saves == saves


async def test_a_status_whose_job_the_queue_cannot_tell_of_stays_until_it_can(world: World) -> None:
    await world.push.execute(Push("acme/widgets", "refs/heads/main", "main"))
    world.queue.jobs.clear()  # the queue's records of the job are gone
    statuses = await world.ledger.statuses()
    assert statuses[WIDGETS_KEY].pending_job_id is None and statuses[WIDGETS_KEY].last_result is None


async def test_without_a_schedule_no_next_sync_is_shown(world: World) -> None:
    ledger = SyncLedger(world.statuses, lambda: world.queue, None, world.clock)
    listed = await ListRepositories(world.manifests, ledger).execute()
    assert {e.next_sync_at for e in listed} == {None}


async def test_forgetting_a_repository_forgets_the_sync_status_of_its_refs(world: World) -> None:
    await world.tick.execute()
    await ForgetRepository(world.manifests, InMemoryVectorIndex(), world.statuses).execute("acme/widgets")
    assert set(world.statuses.statuses) == {GADGETS_KEY}
