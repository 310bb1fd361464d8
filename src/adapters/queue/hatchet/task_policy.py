"""How the index tasks run and fail: timeouts, retries, the shared rate limit, which errors are retried.

A task that raises `BatchError` is retried with backoff; one that raises `NonRetryableException`
fails its run at once with the domain error's message, which users then read as the job's error.
"""

from __future__ import annotations

from datetime import timedelta

from hatchet_sdk import NonRetryableException

from domain.errors import RateLimited, RepochatError, UpstreamUnavailable

INDEX_TIMEOUT = timedelta(hours=3)
BATCH_TIMEOUT = timedelta(minutes=15)
QUEUED_JOB_TIMEOUT = timedelta(hours=24)
"""How long a job may wait for its repository's previous job (or for a worker) before Hatchet drops it."""
QUEUED_BATCH_TIMEOUT = timedelta(hours=3)
INDEX_RETRIES = 2
BATCH_RETRIES = 3
BACKOFF_FACTOR = 2.0
BACKOFF_MAX_SECONDS = 60
EMBEDDING_RATE_LIMIT = "repochat-embedding-batches"
"""The rate limit every worker's batch tasks share, one unit per batch."""


class BatchError(Exception):
    """A transient failure of a task, worth a retry; its message is the domain error's, for users."""


def task_error(error: RepochatError) -> Exception:
    """Upstream trouble is retried with backoff; bad input or refused access would fail again."""
    if isinstance(error, UpstreamUnavailable | RateLimited):
        return BatchError(error.message)
    return NonRetryableException(error.message)
