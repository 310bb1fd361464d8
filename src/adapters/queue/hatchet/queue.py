"""HatchetJobQueue: index jobs as runs of the `repochat-index` workflow on a Hatchet engine.

This process only submits, reads and cancels: `repochat worker` processes run the jobs (see
adapters.queue.hatchet.workflows). How a run reads as a `Job` is `runs`' part; this module
does the calls to the engine.

The workflow must have been registered by a worker once before jobs can be submitted:
Hatchet accepts a trigger of an unknown workflow and then drops it, so `submit` checks first
and says to start a worker instead of returning a job that would never run.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import grpc
from hatchet_sdk import BulkCancelReplayOpts, Hatchet
from hatchet_sdk.clients.rest.api.log_api import LogApi
from hatchet_sdk.clients.rest.api.workflow_api import WorkflowApi
from hatchet_sdk.clients.rest.api.workflow_runs_api import WorkflowRunsApi
from hatchet_sdk.clients.rest.api_client import ApiClient
from hatchet_sdk.clients.rest.exceptions import (
    ApiException,
    ForbiddenException,
    NotFoundException,
    RestTransportError,
    UnauthorizedException,
)
from hatchet_sdk.clients.rest.models.v1_log_line_order_by_direction import V1LogLineOrderByDirection

from adapters.queue.hatchet.contract import (
    INDEX_TASK,
    JOB_KEY,
    IndexJobInput,
    discard_input,
    discard_metadata,
    job_input,
    job_key,
    job_metadata,
)
from adapters.queue.hatchet.progress import LoggedProgress, read_progress_line
from adapters.queue.hatchet.runs import UNFINISHED, IndexRun, job_of
from application.ports.jobs import JobQueue
from domain.errors import NotFound, RepochatError, UpstreamUnavailable
from domain.jobs import IndexRequest, IndexResult, Job, JobState

log = logging.getLogger(__name__)
T = TypeVar("T")

REQUEST_TIMEOUT = 10.0
"""Seconds for one REST call to the engine."""
RECENT_WINDOW = timedelta(days=6)
"""How far back `recent` looks (Hatchet warns about run listings spanning 7 days or more)."""
UNFINISHED_WINDOW = timedelta(days=2)
"""Longer than a job may wait in the queue plus run (the timeouts of task_policy)."""
PROGRESS_LINES = 50
"""Newest log lines searched for a progress line; other lines are ordinary log records."""
CANCEL_SETTLE_SECONDS = 5.0
VISIBLE_SECONDS = 10.0


class HatchetJobQueue(JobQueue):
    def __init__(self, hatchet: Hatchet) -> None:
        self._hatchet = hatchet
        self._trigger = hatchet.stubs.task(name=INDEX_TASK, input_validator=IndexJobInput, output_validator=IndexResult)
        self._workflow_id: str | None = None

    async def start(self) -> None:
        """Nothing runs here: workers run the jobs."""
        return None

    async def stop(self) -> None:
        return None

    async def submit(self, request: IndexRequest) -> Job:
        """Return the unfinished job of the request's ref of the repository in the collection if
        there is one, else trigger a run (which waits while another ref's job of the repository runs).

        Two submissions racing past the lookup both trigger; the workflow's concurrency key
        then runs them one after the other.
        """
        workflow_id = await self._index_workflow_id()
        if workflow_id is None:
            raise UpstreamUnavailable(
                f"no repochat worker has registered the {INDEX_TASK!r} workflow with Hatchet yet: "
                "start `repochat worker` once, then submit again"
            )
        existing = await self._unfinished(workflow_id, job_key(request))
        if existing is not None:
            return existing
        ref = await _guard(
            "queue an index job",
            self._trigger.aio_run(job_input(request), wait_for_result=False, additional_metadata=job_metadata(request)),
        )
        return await self._visible(ref.workflow_run_id, request)

    async def get(self, job_id: str) -> Job:
        run = await self._run(job_id)
        return await self._job(run)

    async def recent(self, limit: int = 50) -> list[Job]:
        workflow_id = await self._index_workflow_id()
        if workflow_id is None:
            return []
        since = datetime.now(UTC) - RECENT_WINDOW
        listing = await _guard(
            "list index jobs", self._hatchet.runs.aio_list(workflow_ids=[workflow_id], since=since, limit=limit)
        )
        runs = sorted((IndexRun.of_summary(row) for row in listing.rows), key=lambda run: run.created, reverse=True)
        jobs = await asyncio.gather(*(self._job(run) for run in runs if run.job_input is not None))
        return list(jobs)

    async def cancel(self, job_id: str) -> Job:
        """Cancel the run and its batch tasks (Hatchet does not cascade a cancellation to children), then
        queue the deletion of what the job wrote if it started (`_queue_discard`)."""
        job = await self.get(job_id)
        if job.state.finished:
            return job
        await _guard("cancel the job", self._hatchet.runs.aio_cancel(job_id))
        await self._cancel_children(job_id)
        if job.state is JobState.RUNNING or job.progress.files_total:  # else it has written nothing
            await self._queue_discard(job.request)
        return await self._settled(job_id)

    async def ping(self) -> None:
        tenant = self._hatchet.tenant_id
        await self._rest(
            "list workflows",
            lambda api: WorkflowApi(api).workflow_list(tenant, limit=1, _request_timeout=REQUEST_TIMEOUT),
        )

    # -- reading runs

    async def _run(self, job_id: str) -> IndexRun:
        if not _is_run_id(job_id):
            raise NotFound(f"no job with id {job_id!r}")
        workflow_id = await self._index_workflow_id()
        try:
            details = await self._rest(
                "read the job",
                lambda api: WorkflowRunsApi(api).v1_workflow_run_get(job_id, _request_timeout=REQUEST_TIMEOUT),
            )
        except NotFound as e:
            raise NotFound(f"no job with id {job_id!r}") from e
        if workflow_id is None or details.run.workflow_id != workflow_id:
            raise NotFound(f"no job with id {job_id!r}")
        return IndexRun.of_details(details.run)

    async def _visible(self, job_id: str, request: IndexRequest) -> Job:
        """The new job once the engine's read API knows it (a moment after the trigger), so a `get`
        right after `submit` finds it; if that takes too long, the job as submitted."""
        deadline = asyncio.get_running_loop().time() + VISIBLE_SECONDS
        while asyncio.get_running_loop().time() < deadline:
            try:
                return await self.get(job_id)
            except NotFound:
                await asyncio.sleep(0.1)
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        return Job(job_id, request.source.repository_id, request, created_at=now, updated_at=now)

    async def _job(self, run: IndexRun) -> Job:
        logged = await self._latest_progress(run.id) if run.shows_logged_progress else None
        return job_of(run, logged)

    async def _latest_progress(self, run_id: str) -> LoggedProgress | None:
        """The newest progress line of the parent task (a standalone task's id is its run's id)."""
        lines = await self._rest(
            "read the job's progress",
            lambda api: LogApi(api).v1_log_line_list(
                run_id,
                limit=PROGRESS_LINES,
                order_by_direction=V1LogLineOrderByDirection.DESC,
                _request_timeout=REQUEST_TIMEOUT,
            ),
        )
        for line in lines.rows or []:
            logged = read_progress_line(line.message)
            if logged is not None:
                return logged
        return None

    async def _unfinished(self, workflow_id: str, key: str) -> Job | None:
        since = datetime.now(UTC) - UNFINISHED_WINDOW
        listing = await _guard(
            "look for an unfinished job",
            self._hatchet.runs.aio_list(
                workflow_ids=[workflow_id], statuses=UNFINISHED, additional_metadata={JOB_KEY: key}, since=since
            ),
        )
        rows = [r for r in listing.rows if (r.additional_metadata or {}).get(JOB_KEY) == key and r.status in UNFINISHED]
        if not rows:
            return None
        return await self._job(min((IndexRun.of_summary(r) for r in rows), key=lambda run: run.created))

    async def _index_workflow_id(self) -> str | None:
        """The id of the registered index workflow, cached once found (it never changes)."""
        if self._workflow_id is None:
            found = await _guard(
                "look up the index workflow", self._hatchet.workflows.aio_list(workflow_name=INDEX_TASK)
            )
            name = self._hatchet.config.apply_namespace(INDEX_TASK)
            self._workflow_id = next((w.metadata.id for w in found.rows or [] if w.name == name), None)
        return self._workflow_id

    # -- cancelling

    async def _cancel_children(self, job_id: str) -> None:
        since = datetime.now(UTC) - UNFINISHED_WINDOW
        children = await _guard(
            "list the job's batch tasks",
            self._hatchet.runs.aio_list(parent_task_external_id=job_id, statuses=UNFINISHED, since=since, limit=1000),
        )
        ids = [row.workflow_run_external_id or row.metadata.id for row in children.rows]
        if ids:
            await _guard(
                "cancel the job's batch tasks", self._hatchet.runs.aio_bulk_cancel(BulkCancelReplayOpts(ids=ids))
            )

    async def _queue_discard(self, request: IndexRequest) -> None:
        """Queue a discard run of the cancelled job's request, which a worker runs in the repository's slot.

        Not here, nor in the cancelled task: the engine frees the slot as it cancels the run, so the
        next job of the repository may be writing by then, and the chunks it has not swapped in yet
        look like the cancelled job's. Best effort: the job is cancelled whatever happens here, and
        the next job of the repository that succeeds deletes what is left.
        """
        try:
            await _guard(
                "queue the deletion of the job's chunks",
                self._trigger.aio_run(
                    discard_input(request), wait_for_result=False, additional_metadata=discard_metadata(request)
                ),
            )
        except RepochatError as e:
            log.warning("%s", e.message)

    async def _settled(self, job_id: str) -> Job:
        """The job once the engine has recorded the cancellation (it takes about a second)."""
        deadline = asyncio.get_running_loop().time() + CANCEL_SETTLE_SECONDS
        job = await self.get(job_id)
        while not job.state.finished and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.25)
            job = await self.get(job_id)
        return job

    async def _rest(self, action: str, call: Callable[[ApiClient], T]) -> T:
        """One call of the generated REST API, without the SDK's retries (which wait ~15 s on a 404)."""

        def run() -> T:
            with self._hatchet.runs.client() as api:
                return call(api)

        return await _guard(action, asyncio.to_thread(run))


async def _guard(action: str, call: Awaitable[T]) -> T:
    try:
        return await call
    except RepochatError:
        raise
    except NotFoundException as e:
        raise NotFound(f"Hatchet found nothing to {action}") from e
    except (UnauthorizedException, ForbiddenException) as e:
        raise UpstreamUnavailable(
            f"Hatchet refused the token while trying to {action} (check HATCHET_CLIENT_TOKEN)"
        ) from e
    except RestTransportError as e:
        raise UpstreamUnavailable(f"cannot reach Hatchet's API to {action} (check HATCHET_CLIENT_SERVER_URL)") from e
    except ApiException as e:
        raise UpstreamUnavailable(f"Hatchet failed to {action}: HTTP {e.status} {e.reason or ''}".strip()) from e
    except grpc.RpcError as e:
        code = e.code().name if isinstance(e, grpc.Call) else type(e).__name__
        raise UpstreamUnavailable(f"Hatchet failed to {action}: {code}") from e
    except Exception as e:
        raise UpstreamUnavailable(f"Hatchet failed to {action}: {type(e).__name__}: {e}"[:500]) from e


def _is_run_id(job_id: str) -> bool:
    try:
        return str(uuid.UUID(job_id)) == job_id.lower()
    except ValueError:
        return False
