"""Submit index jobs and follow them, whichever queue runs them."""

from __future__ import annotations

from collections.abc import Sequence

from application.access import RepositoryAccess
from application.indexing import pick_source
from application.ports.jobs import JobQueue
from application.ports.sources import DocumentSource
from domain.access import LOCAL_USER, Caller, Role
from domain.collections import validate_collection
from domain.errors import Conflict, NotAllowed, NotFound
from domain.jobs import IndexRequest, Job
from domain.sources import SourceKind, SourceSpec


class SubmitIndexJob:
    """Validate a request before it is queued, so bad input fails now, not in a worker.

    The queue returns the unfinished job of the same repository and ref instead of a second one.
    When that job indexes other files (other `include` or `exclude` globs), joining it would drop
    the caller's globs unseen: that is a Conflict naming the job, to wait for or cancel.
    A caller indexes with the index role, repositories it may see only (out of scope: NotFound); only then
    is the source asked whether it can read the repository at all (a missing folder: InvalidInput).
    """

    def __init__(
        self, queue: JobQueue, sources: Sequence[DocumentSource], access: RepositoryAccess | None = None
    ) -> None:
        self._queue = queue
        self._sources = sources
        self._access = access or RepositoryAccess()

    async def execute(self, request: IndexRequest, caller: Caller = LOCAL_USER) -> Job:
        validate_collection(request.collection)
        caller.require(Role.INDEX)
        repository = request.source.repository_id
        if not await self._access.admits(caller, request.collection, repository):
            raise NotFound(_not_found(request.source))
        if not caller.scope.admits_indexing(request.collection, repository):
            raise NotAllowed(
                f"{caller.name} is scoped to collections and names no repository: it may index none, since "
                "indexing reads with the server's GitHub token"
            )
        await pick_source(self._sources, request.source).check(request.source)
        job = await self._queue.submit(request)
        running, wanted = job.request.source, request.source
        if (running.include, running.exclude) != (wanted.include, wanted.exclude):
            raise Conflict(
                f"job {job.id} already indexes {job.repository} at this ref with include {list(running.include)} "
                f"and exclude {list(running.exclude)}: wait for it to finish or cancel it, then index again"
            )
        return job


class GetJob:
    def __init__(self, queue: JobQueue, access: RepositoryAccess | None = None) -> None:
        self._queue = queue
        self._access = access or RepositoryAccess()

    async def execute(self, job_id: str, caller: Caller = LOCAL_USER) -> Job:
        return await visible_job(self._queue, self._access, job_id, caller)


class ListJobs:
    """The newest jobs the caller may see."""

    def __init__(self, queue: JobQueue, access: RepositoryAccess | None = None) -> None:
        self._queue = queue
        self._access = access or RepositoryAccess()

    async def execute(self, limit: int = 50, caller: Caller = LOCAL_USER) -> list[Job]:
        if caller.sees_everything:
            return await self._queue.recent(limit)
        recent = await self._queue.recent(max(limit, SCANNED_FOR_A_SCOPE))
        return (await self._access.keep(caller, recent, _place))[:limit]


class CancelJob:
    def __init__(self, queue: JobQueue, access: RepositoryAccess | None = None) -> None:
        self._queue = queue
        self._access = access or RepositoryAccess()

    async def execute(self, job_id: str, caller: Caller = LOCAL_USER) -> Job:
        await visible_job(self._queue, self._access, job_id, caller)
        caller.require(Role.INDEX)
        return await self._queue.cancel(job_id)


SCANNED_FOR_A_SCOPE = 500
"""A caller that may not see every repository is listed its jobs among this many newest."""


async def visible_job(queue: JobQueue, access: RepositoryAccess, job_id: str, caller: Caller) -> Job:
    """The job, when the caller may see its repository; else NotFound, as for a job that does not exist."""
    job = await queue.get(job_id)
    if not await access.keep(caller, [job], _place):
        raise NotFound(f"no job with id {job_id!r}")
    return job


def _not_found(source: SourceSpec) -> str:
    """A folder is not named: its real path would tell which root holds it, or where a link leads."""
    if source.kind is SourceKind.LOCAL:
        return "no folder this caller may index is at that path"
    return f"repository {source.location!r} not found"


def _place(job: Job) -> tuple[str, str]:
    return job.request.collection, job.request.source.repository_id
