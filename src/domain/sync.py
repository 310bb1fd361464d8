"""Staying in sync: when each indexed ref is synced again, and what its last sync did.

Scheduled syncs happen on *ticks*, the multiples of the interval since the Unix epoch (UTC): for
an interval that divides a day (all the ones a cron expression can say) they fall at the same
moments as the cron schedule Hatchet runs, so a ref's next sync can be told without asking the
engine. On each tick, a ref is synced when its backoff has passed since its last attempt:

    backoff = interval * 2 ** consecutive_failures, at most a day (or the interval, when longer)

and "passed" allows half an interval of slack, because a tick fires a moment late and a sync a
webhook asked for just before a tick makes that tick's sync needless. A ref that keeps failing
is thus tried once per interval, then every 2, 4, 8 ... intervals, then daily, and its status says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from domain.errors import InvalidInput
from domain.jobs import Job, JobState

MAX_BACKOFF = timedelta(days=1)
INTERVAL_FORMS = "a whole number followed by s, m, h or d, such as 30m, 1h or 1d"
_INTERVAL = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": timedelta(seconds=1), "m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SyncResult(StrEnum):
    UPDATED = "updated"
    """The sync indexed, changed or deleted files."""
    UNCHANGED = "unchanged"
    FAILED = "failed"


class SyncTrigger(StrEnum):
    SCHEDULE = "schedule"
    WEBHOOK = "webhook"


@dataclass(frozen=True)
class SyncKey:
    """One indexed ref: a repository in a collection, at a ref (None: its default branch)."""

    collection: str
    repository: str
    ref: str | None = None


@dataclass(frozen=True)
class SyncStatus:
    """What is known of one ref's syncs, the scheduled ones and those webhooks asked for.

    Times are ISO 8601 in UTC. `pending_job_id` names a job submitted whose outcome is not folded
    in yet (`with_outcome`); the other `last_*` fields describe the last sync that finished.
    """

    collection: str
    repository: str
    ref: str | None = None
    last_attempt_at: str = ""
    """When the last sync was asked for (its job submitted, or its submission refused)."""
    last_trigger: SyncTrigger | None = None
    pending_job_id: str | None = None
    last_sync_at: str = ""
    last_result: SyncResult | None = None
    last_job_id: str | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    commit: str = ""
    """The commit the last successful sync found."""

    @property
    def key(self) -> SyncKey:
        return SyncKey(self.collection, self.repository, self.ref)

    @classmethod
    def new(cls, key: SyncKey) -> SyncStatus:
        return cls(key.collection, key.repository, key.ref)

    def submitted(self, job: Job, trigger: SyncTrigger, now: datetime) -> SyncStatus:
        """A sync's job is queued (or an unfinished job of the repository is followed instead)."""
        return replace(self, last_attempt_at=_iso(now), last_trigger=trigger, pending_job_id=job.id)

    def refused(self, error: str, trigger: SyncTrigger, now: datetime) -> SyncStatus:
        """A sync's job could not even be queued: a failure like a failed job (a pending job stays pending)."""
        return replace(self, last_attempt_at=_iso(now), last_trigger=trigger).failed_with(None, error, now)

    def with_outcome(self, job: Job, now: datetime) -> SyncStatus:
        """Fold in the outcome of the pending job, once it is finished.

        A cancelled job is no outcome of the ref: the status stays as it was, without the job.
        """
        if job.id != self.pending_job_id or not job.state.finished:
            return self
        finished_at = job.updated_at or _iso(now)
        if job.state is JobState.FAILED:
            error = job.error or "the job failed"
            return replace(self, pending_job_id=None).failed_with(job.id, error, now, finished_at)
        if job.state is JobState.CANCELLED or job.result is None:
            return replace(self, pending_job_id=None)
        result = job.result
        changed = result.files_indexed + result.files_deleted > 0
        return replace(
            self,
            pending_job_id=None,
            last_sync_at=finished_at,
            last_result=SyncResult.UPDATED if changed else SyncResult.UNCHANGED,
            last_job_id=job.id,
            last_error=None,
            consecutive_failures=0,
            commit=result.commit or self.commit,
        )

    def without_job(self) -> SyncStatus:
        """The pending job is gone from the queue's records: nothing will be known of it."""
        return replace(self, pending_job_id=None)

    def failed_with(self, job_id: str | None, error: str, now: datetime, at: str = "") -> SyncStatus:
        return replace(
            self,
            last_sync_at=at or _iso(now),
            last_result=SyncResult.FAILED,
            last_job_id=job_id,
            last_error=error,
            consecutive_failures=self.consecutive_failures + 1,
        )


def parse_interval(text: str) -> timedelta:
    """`30m`, `1h`, `1d` (and `s` for seconds) as a positive duration."""
    match = _INTERVAL.match(text)
    if not match or int(match.group(1)) == 0:
        raise InvalidInput(f"a sync interval is {INTERVAL_FORMS}, not {text!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True)
class SyncSchedule:
    """Re-sync every indexed ref every `interval`, backing off from refs that keep failing."""

    interval: timedelta

    @classmethod
    def every(cls, text: str) -> SyncSchedule:
        return cls(parse_interval(text))

    def backoff(self, failures: int) -> timedelta:
        """How long after an attempt the next one comes: the interval, doubled per consecutive failure."""
        cap = max(MAX_BACKOFF, self.interval)
        if failures >= 32:  # 2**32 intervals of even a second are past any cap
            return cap
        return min(self.interval * 2**failures, cap)

    def tick_after(self, moment: datetime) -> datetime:
        """The first tick after `moment`."""
        return _EPOCH + ((moment - _EPOCH) // self.interval + 1) * self.interval

    def is_due(self, status: SyncStatus | None, now: datetime) -> bool:
        """Whether a tick at `now` syncs the ref: its backoff has passed since the last attempt
        (less half an interval of slack), and no job of it is pending."""
        if status is None:
            return True
        if status.pending_job_id is not None:
            return False
        due = self._due_from(status)
        return due is None or now >= due

    def next_sync(self, status: SyncStatus | None, now: datetime) -> datetime:
        """The tick that will sync the ref next (if no job of it is still pending then)."""
        due = self._due_from(status) if status is not None else None
        return self.tick_after(max(now, due) if due is not None else now)

    def cron(self) -> str:
        """The interval as a cron expression (UTC) that fires on the ticks; InvalidInput when none can."""
        seconds = _seconds(self.interval)
        minutes, hours = seconds // 60, seconds // 3600
        if seconds % 60 == 0 and minutes < 60 and 60 % minutes == 0:
            return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
        if seconds % 3600 == 0 and hours < 24 and 24 % hours == 0:
            return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"
        if seconds == 86400:
            return "0 0 * * *"
        raise InvalidInput(
            "a scheduled sync on Hatchet runs as a cron schedule, so its interval must divide an hour "
            "(1, 2, 3, 4, 5, 6, 10, 12, 15, 20 or 30 minutes), divide a day (1, 2, 3, 4, 6, 8 or 12 hours) "
            f"or be 1d, not {_describe(self.interval)}"
        )

    def _due_from(self, status: SyncStatus) -> datetime | None:
        if not status.last_attempt_at:
            return None
        attempted = datetime.fromisoformat(status.last_attempt_at)
        return attempted + self.backoff(status.consecutive_failures) - self.interval / 2


def _seconds(duration: timedelta) -> int:
    return int(duration.total_seconds())


def _describe(duration: timedelta) -> str:
    """In the largest unit that says it exactly: `45m`, `90s`."""
    seconds = _seconds(duration)
    unit = next(u for u in "dhms" if seconds % _seconds(_UNITS[u]) == 0)
    return f"{seconds // _seconds(_UNITS[unit])}{unit}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
