"""How the index tasks run and fail: timeouts, retries, the shared rate limit, which errors are retried.

A task that raises `BatchError` is retried with backoff; one that raises `NonRetryableException`
fails its run at once with the domain error's message, which users then read as the job's error.
A task knows its run ends when it raises the latter (`attempt_error`), and can clean up first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from hatchet_sdk import NonRetryableException

from domain.errors import RateLimited, RepochatError, UpstreamUnavailable


@dataclass(frozen=True)
class TaskPolicy:
    """How long a task may run, how long it may wait to start, how often it is retried and how it backs
    off between tries: its fields are the keyword arguments of `hatchet.task` that set them."""

    retries: int
    execution_timeout: timedelta
    schedule_timeout: timedelta
    """How long a run may wait (for a worker, or for the runs it queues behind) before Hatchet drops it."""
    backoff_factor: float = 2.0
    backoff_max_seconds: int = 60

    def options(self) -> dict[str, Any]:
        return asdict(self)


INDEX_POLICY = TaskPolicy(retries=2, execution_timeout=timedelta(hours=3), schedule_timeout=timedelta(hours=24))
"""A job waits for its repository's previous job (or for a worker) up to a day."""
BATCH_POLICY = TaskPolicy(retries=3, execution_timeout=timedelta(minutes=15), schedule_timeout=timedelta(hours=3))
EMBEDDING_RATE_LIMIT = "repochat-embedding-batches"
"""The rate limit every worker's batch tasks share, one unit per batch."""


class BatchError(Exception):
    """A transient failure of a task, worth a retry; its message is the domain error's, for users."""


def task_error(error: RepochatError) -> Exception:
    """Upstream trouble is retried with backoff; bad input or refused access would fail again."""
    if isinstance(error, UpstreamUnavailable | RateLimited):
        return BatchError(error.message)
    return NonRetryableException(error.message)


def attempt_error(error: Exception, retry_count: int, policy: TaskPolicy) -> Exception:
    """What a task raises for `error` after `retry_count` retries: `task_error` for a domain error, any
    other as it is, and on the last attempt a `NonRetryableException`, so that the task knows the run ends.

    `retry_count` (the SDK's) also counts the times the engine gave the task to another worker because
    its worker died, which the engine does not count against `policy.retries`: such a run ends one
    attempt early, rather than be retried after the task took it for over.
    """
    if isinstance(error, RepochatError):
        error = task_error(error)
    if isinstance(error, NonRetryableException) or retry_count < policy.retries:
        return error
    return NonRetryableException(str(error) if isinstance(error, BatchError) else f"{type(error).__name__}: {error}")
