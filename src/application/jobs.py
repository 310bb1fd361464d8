"""Submit index jobs and follow them, whichever queue runs them."""

from __future__ import annotations

from collections.abc import Sequence

from application.indexing import pick_source
from application.ports.jobs import JobQueue
from application.ports.sources import DocumentSource
from domain.collections import validate_collection
from domain.errors import Conflict
from domain.jobs import IndexRequest, Job


class SubmitIndexJob:
    """Validate a request before it is queued, so bad input fails now, not in a worker.

    The queue returns the unfinished job of the same repository and ref instead of a second one.
    When that job indexes other files (other `include` or `exclude` globs), joining it would drop
    the caller's globs unseen: that is a Conflict naming the job, to wait for or cancel.
    """

    def __init__(self, queue: JobQueue, sources: Sequence[DocumentSource]) -> None:
        self._queue = queue
        self._sources = sources

    async def execute(self, request: IndexRequest) -> Job:
        validate_collection(request.collection)
        pick_source(self._sources, request.source)
        job = await self._queue.submit(request)
        running, wanted = job.request.source, request.source
        if (running.include, running.exclude) != (wanted.include, wanted.exclude):
            raise Conflict(
                f"job {job.id} already indexes {job.repository} at this ref with include {list(running.include)} "
                f"and exclude {list(running.exclude)}: wait for it to finish or cancel it, then index again"
            )
        return job


class GetJob:
    def __init__(self, queue: JobQueue) -> None:
        self._queue = queue

    async def execute(self, job_id: str) -> Job:
        return await self._queue.get(job_id)


class ListJobs:
    def __init__(self, queue: JobQueue) -> None:
        self._queue = queue

    async def execute(self, limit: int = 50) -> list[Job]:
        return await self._queue.recent(limit)


class CancelJob:
    def __init__(self, queue: JobQueue) -> None:
        self._queue = queue

    async def execute(self, job_id: str) -> Job:
        return await self._queue.cancel(job_id)
