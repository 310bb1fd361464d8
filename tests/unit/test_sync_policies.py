"""The policies of staying in sync: intervals, their cron form, ticks and backoff, statuses, webhook signatures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.documents import Manifest
from domain.errors import InvalidInput
from domain.jobs import IndexRequest, IndexResult, Job, JobState
from domain.sources import SourceKind, SourceSpec
from domain.sync import SyncKey, SyncResult, SyncSchedule, SyncStatus, SyncTrigger, parse_interval
from domain.webhooks import Push, SignatureCheck, push_of, signature_of

NOON = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
KEY = SyncKey("default", "acme/widgets")
REQUEST = IndexRequest(SourceSpec(SourceKind.GITHUB, "acme/widgets"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("1h", timedelta(hours=1)),
        ("1d", timedelta(days=1)),
        (" 2s ", timedelta(2 / 86400)),
    ],
)
def test_intervals_are_a_whole_number_and_a_unit(text: str, expected: timedelta) -> None:
    assert parse_interval(text) == expected


@pytest.mark.parametrize("text", ["", "0m", "1.5h", "-1h", "1w", "h", "1 hour", "30"])
def test_other_intervals_are_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(InvalidInput, match="30m, 1h or 1d"):
        parse_interval(text)


@pytest.mark.parametrize(
    ("interval", "cron"),
    [
        ("1m", "* * * * *"),
        ("15m", "*/15 * * * *"),
        ("60m", "0 * * * *"),
        ("1h", "0 * * * *"),
        ("6h", "0 */6 * * *"),
        ("24h", "0 0 * * *"),
        ("1d", "0 0 * * *"),
    ],
)
def test_intervals_that_divide_an_hour_or_a_day_map_to_a_cron_expression(interval: str, cron: str) -> None:
    assert SyncSchedule.every(interval).cron() == cron


@pytest.mark.parametrize(
    ("interval", "shown"), [("45m", "45m"), ("90s", "90s"), ("30s", "30s"), ("5h", "5h"), ("2d", "2d")]
)
def test_intervals_no_cron_expression_can_say_are_refused(interval: str, shown: str) -> None:
    with pytest.raises(InvalidInput, match=f"divide an hour .* not {shown}$"):
        SyncSchedule.every(interval).cron()


def test_ticks_are_the_multiples_of_the_interval_since_the_epoch() -> None:
    schedule = SyncSchedule.every("15m")
    assert schedule.tick_after(NOON) == NOON + timedelta(minutes=15)
    assert schedule.tick_after(NOON + timedelta(minutes=1, microseconds=1)) == NOON + timedelta(minutes=15)
    assert SyncSchedule.every("1d").tick_after(NOON) == datetime(2025, 3, 2, tzinfo=UTC)


def test_backoff_doubles_with_each_consecutive_failure_up_to_a_day() -> None:
    schedule = SyncSchedule.every("1h")
    assert [schedule.backoff(n) for n in range(6)] == [timedelta(hours=h) for h in (1, 2, 4, 8, 16, 24)]
    assert schedule.backoff(1000) == timedelta(days=1)
    assert SyncSchedule.every("2d").backoff(3) == timedelta(days=2)  # never shorter than the interval


def attempted(at: datetime, failures: int = 0) -> SyncStatus:
    return SyncStatus(KEY.collection, KEY.repository, last_attempt_at=at.isoformat(), consecutive_failures=failures)


def test_a_ref_is_due_on_the_first_tick_its_backoff_has_passed_by() -> None:
    schedule = SyncSchedule.every("1h")
    synced_late = attempted(NOON + timedelta(seconds=20))  # a tick fires a moment late
    assert schedule.is_due(None, NOON)
    assert not schedule.is_due(synced_late, NOON + timedelta(minutes=20))
    assert schedule.is_due(synced_late, NOON + timedelta(hours=1, seconds=3))
    assert schedule.next_sync(synced_late, NOON + timedelta(minutes=5)) == NOON + timedelta(hours=1)
    pushed_before_the_tick = attempted(NOON + timedelta(minutes=50))
    assert not schedule.is_due(pushed_before_the_tick, NOON + timedelta(hours=1))
    assert schedule.next_sync(pushed_before_the_tick, NOON + timedelta(minutes=55)) == NOON + timedelta(hours=2)


def test_a_failing_ref_waits_out_its_backoff_and_a_pending_one_is_never_due() -> None:
    schedule = SyncSchedule.every("1h")
    failing = attempted(NOON, failures=3)
    assert not schedule.is_due(failing, NOON + timedelta(hours=7))
    assert schedule.is_due(failing, NOON + timedelta(hours=8))
    assert schedule.next_sync(failing, NOON + timedelta(minutes=1)) == NOON + timedelta(hours=8)
    pending = SyncStatus(KEY.collection, KEY.repository, pending_job_id="job-1")
    assert not schedule.is_due(pending, NOON)


def job(state: JobState, result: IndexResult | None = None, error: str | None = None) -> Job:
    return Job(
        "job-1", KEY.repository, REQUEST, state, result=result, error=error, updated_at="2025-03-01T12:05:00+00:00"
    )


def test_a_status_folds_in_its_finished_job() -> None:
    pending = SyncStatus.new(KEY).submitted(job(JobState.QUEUED), SyncTrigger.WEBHOOK, NOON)
    assert pending.pending_job_id == "job-1" and pending.last_attempt_at == "2025-03-01T12:00:00+00:00"
    assert pending.with_outcome(job(JobState.RUNNING), NOON) == pending

    failed = pending.with_outcome(job(JobState.FAILED, error="GitHub is down"), NOON)
    assert (failed.last_result, failed.last_error, failed.consecutive_failures) == (
        SyncResult.FAILED,
        "GitHub is down",
        1,
    )
    assert failed.pending_job_id is None and failed.last_sync_at == "2025-03-01T12:05:00+00:00"
    refused = failed.refused("Hatchet is unreachable", SyncTrigger.SCHEDULE, NOON)
    assert refused.consecutive_failures == 2 and refused.last_job_id is None

    again = refused.submitted(job(JobState.QUEUED), SyncTrigger.SCHEDULE, NOON)
    updated = again.with_outcome(job(JobState.SUCCEEDED, IndexResult(files_indexed=1, commit="c2")), NOON)
    assert (updated.last_result, updated.last_error, updated.consecutive_failures) == (SyncResult.UPDATED, None, 0)
    assert updated.commit == "c2" and updated.last_job_id == "job-1"
    unchanged = again.with_outcome(job(JobState.SUCCEEDED, IndexResult(files_unchanged=4, commit="c2")), NOON)
    assert unchanged.last_result is SyncResult.UNCHANGED


def test_a_cancelled_job_leaves_the_status_as_it_was() -> None:
    pending = SyncStatus.new(KEY).submitted(job(JobState.QUEUED), SyncTrigger.SCHEDULE, NOON)
    cancelled = pending.with_outcome(job(JobState.CANCELLED), NOON)
    assert cancelled.pending_job_id is None and cancelled.last_result is None and cancelled.consecutive_failures == 0


BODY = b'{"zen": "Keep it logically awesome."}'


def is_signed_by(secret: str, body: bytes, signature: str | None) -> bool:
    """The body read in two pieces, as a route reads a streamed one."""
    check = SignatureCheck(secret)
    check.update(body[:5])
    check.update(body[5:])
    return check.matches(signature)


def test_a_delivery_is_signed_with_hmac_sha256_of_its_raw_body() -> None:
    # GitHub's documented example: secret "It's a Secret to Everybody", body "Hello, World!"
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert signature_of("It's a Secret to Everybody", b"Hello, World!") == expected
    assert is_signed_by("s3cret", BODY, signature_of("s3cret", BODY))


@pytest.mark.parametrize(
    "signature", [None, "", "sha256=", signature_of("other", BODY), signature_of("s3cret", BODY + b" "), "sha1=abc"]
)
def test_a_missing_or_wrong_signature_is_refused(signature: str | None) -> None:
    assert not is_signed_by("s3cret", BODY, signature)


def manifest(source: str, ref: str | None = None) -> Manifest:
    return Manifest(repository=source.removeprefix("github:").lower(), source=source, commit="c1", ref=ref)


def test_a_push_updates_the_indexed_refs_it_moved() -> None:
    push = push_of({"ref": "refs/heads/main", "repository": {"full_name": "Acme/Widgets", "default_branch": "main"}})
    assert push == Push("Acme/Widgets", "refs/heads/main", "main") and push.name == "main"
    assert push.updates(manifest("github:acme/widgets"))  # the default branch
    assert push.updates(manifest("github:acme/widgets", "main"))
    assert push.updates(manifest("github:acme/widgets/docs"))  # a subfolder of the repository
    assert not push.updates(manifest("github:acme/widgets", "v1.0"))
    assert not push.updates(manifest("github:acme/gadgets"))
    assert not push.updates(manifest("/home/acme/widgets"))

    tag = Push("acme/widgets", "refs/tags/v1.0", "main")
    assert tag.updates(manifest("github:acme/widgets", "v1.0")) and not tag.updates(manifest("github:acme/widgets"))
    other_branch = Push("acme/widgets", "refs/heads/dev", "main")
    assert other_branch.updates(manifest("github:acme/widgets", "dev"))
    assert not other_branch.updates(manifest("github:acme/widgets"))


@pytest.mark.parametrize(
    "payload",
    [{}, {"ref": "refs/heads/main"}, {"ref": "refs/heads/main", "repository": {"full_name": "acme"}}, {"ref": 3}],
)
def test_a_payload_without_a_ref_and_repository_is_no_push(payload: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        push_of(payload)


def test_a_push_that_deleted_its_ref_says_so() -> None:
    payload = {"ref": "refs/heads/gone", "deleted": True, "repository": {"full_name": "a/b", "default_branch": "main"}}
    assert push_of(payload).deleted
