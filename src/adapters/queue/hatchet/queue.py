"""HatchetJobQueue: index jobs as runs of the `repochat-index` workflow on a Hatchet engine.

This process only submits and reads: `repochat worker` processes run the jobs (see
adapters.queue.hatchet.workflows). A job's id is its workflow run id. Its state is the run's status;
its stage and progress are the newest progress line the workflow logged; its result is the
run's output, its error the run's error message without the traceback.

The workflow must have been registered by a worker once before jobs can be submitted:
Hatchet accepts a trigger of an unknown workflow and then drops it, so `submit` checks first
and says to start a worker instead of returning a job that would never run.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import grpc
from hatchet_sdk import BulkCancelReplayOpts, Hatchet, TaskRunError, V1TaskStatus
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
from hatchet_sdk.clients.rest.models.v1_task_summary import V1TaskSummary
from hatchet_sdk.clients.rest.models.v1_workflow_run import V1WorkflowRun

from adapters.job_codec import request_from_json, result_from_json
from adapters.queue.hatchet.workflows import INDEX_TASK, JOB_KEY, IndexJobInput, job_input, job_key, job_metadata
from application.ports import JobQueue
from domain.errors import InvalidInput, NotFound, RepochatError, UpstreamUnavailable
from domain.jobs import IndexRequest, Job, JobState, Progress

T = TypeVar("T")

REQUEST_TIMEOUT = 10.0
"""Seconds for one REST call to the engine."""
RECENT_WINDOW = timedelta(days=6)
"""How far back `recent` looks (Hatchet warns about run listings spanning 7 days or more)."""
UNFINISHED_WINDOW = timedelta(days=2)
"""Longer than a job may wait in the queue plus run (hatchet_workflows' timeouts)."""
PROGRESS_LINES = 50
"""Newest log lines searched for a progress line; other lines are ordinary log records."""
CANCEL_SETTLE_SECONDS = 5.0
VISIBLE_SECONDS = 10.0

_STATES = {
    V1TaskStatus.QUEUED: JobState.QUEUED,
    V1TaskStatus.RUNNING: JobState.RUNNING,
    V1TaskStatus.COMPLETED: JobState.SUCCEEDED,
    V1TaskStatus.FAILED: JobState.FAILED,
    V1TaskStatus.CANCELLED: JobState.CANCELLED,
}
_UNFINISHED = [V1TaskStatus.QUEUED, V1TaskStatus.RUNNING]


def connect_hatchet() -> Hatchet:
    """A client configured by the SDK's own HATCHET_CLIENT_* variables."""
    try:
        return Hatchet()
    except ValueError as e:  # the SDK's message may quote the start of the token: not repeated here
        raise InvalidInput(
            "REPOCHAT_JOB_QUEUE=hatchet needs the Hatchet SDK's settings: HATCHET_CLIENT_TOKEN, and for an "
            "engine without TLS HATCHET_CLIENT_TLS_STRATEGY=none (scripts/hatchet-dev.sh env prints them)"
        ) from e


@dataclass(frozen=True)
class _Run:
    """What a job is made of, from a run's details or from a run listing."""

    id: str
    status: V1TaskStatus
    input: Mapping[str, Any]
    output: Mapping[str, Any]
    error: str | None
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of_details(cls, run: V1WorkflowRun) -> _Run:
        updated = _latest(run.finished_at, run.started_at, run.created_at)
        return cls(run.metadata.id, run.status, run.input, run.output, run.error_message, run.created_at, updated)

    @classmethod
    def of_summary(cls, row: V1TaskSummary) -> _Run:
        updated = _latest(row.finished_at, row.started_at, row.created_at)
        run_id = row.workflow_run_external_id or row.metadata.id
        return cls(run_id, row.status, row.input, row.output, row.error_message, row.created_at, updated)


class HatchetJobQueue(JobQueue):
    def __init__(self, hatchet: Hatchet) -> None:
        self._hatchet = hatchet
        self._trigger = hatchet.stubs.task(name=INDEX_TASK, input_validator=IndexJobInput)
        self._workflow_id: str | None = None

    async def start(self) -> None:
        """Nothing runs here: workers run the jobs."""
        return None

    async def stop(self) -> None:
        return None

    async def submit(self, request: IndexRequest) -> Job:
        """Return the repository's unfinished job if there is one, else trigger a run.

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
        runs = sorted((_Run.of_summary(row) for row in listing.rows), key=_created, reverse=True)
        jobs = await asyncio.gather(*(self._job(run) for run in runs if _job_input(run.input) is not None))
        return list(jobs)

    async def cancel(self, job_id: str) -> Job:
        """Cancel the run and its batch tasks (Hatchet does not cascade a cancellation to children)."""
        job = await self.get(job_id)
        if job.state.finished:
            return job
        await _guard("cancel the job", self._hatchet.runs.aio_cancel(job_id))
        await self._cancel_children(job_id)
        return await self._settled(job_id)

    async def ping(self) -> None:
        tenant = self._hatchet.tenant_id
        await self._rest(
            "list workflows",
            lambda api: WorkflowApi(api).workflow_list(tenant, limit=1, _request_timeout=REQUEST_TIMEOUT),
        )

    # -- reading runs

    async def _run(self, job_id: str) -> _Run:
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
        return _Run.of_details(details.run)

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

    async def _job(self, run: _Run) -> Job:
        inp = _job_input(run.input)
        if inp is None:
            raise NotFound(f"run {run.id} is not a repochat index job")
        state = _STATES.get(run.status, JobState.QUEUED)
        request = request_from_json(inp.request)
        job = Job(
            id=run.id,
            repository=request.source.repository_id,
            request=request,
            state=state,
            stage=state.value,
            created_at=_iso(run.created_at),
            updated_at=_iso(run.updated_at),
        )
        if state is JobState.QUEUED:
            return job
        if state is JobState.SUCCEEDED:
            return _succeeded(job, run.output)
        stage, progress = await self._latest_progress(run.id)
        if state is JobState.RUNNING:
            return job.with_progress(stage or "starting", progress)
        error = _error_text(run.error) if state is JobState.FAILED else None
        return replace(job, progress=progress, error=error)

    async def _latest_progress(self, run_id: str) -> tuple[str | None, Progress]:
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
            parsed = _progress_line(line.message)
            if parsed is not None:
                return parsed
        return None, Progress()

    async def _unfinished(self, workflow_id: str, key: str) -> Job | None:
        since = datetime.now(UTC) - UNFINISHED_WINDOW
        listing = await _guard(
            "look for an unfinished job",
            self._hatchet.runs.aio_list(
                workflow_ids=[workflow_id], statuses=_UNFINISHED, additional_metadata={JOB_KEY: key}, since=since
            ),
        )
        rows = [
            r for r in listing.rows if (r.additional_metadata or {}).get(JOB_KEY) == key and r.status in _UNFINISHED
        ]
        if not rows:
            return None
        return await self._job(min((_Run.of_summary(r) for r in rows), key=_created))

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
            self._hatchet.runs.aio_list(parent_task_external_id=job_id, statuses=_UNFINISHED, since=since, limit=1000),
        )
        ids = [row.workflow_run_external_id or row.metadata.id for row in children.rows]
        if ids:
            await _guard(
                "cancel the job's batch tasks", self._hatchet.runs.aio_bulk_cancel(BulkCancelReplayOpts(ids=ids))
            )

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


def _job_input(data: Mapping[str, Any]) -> IndexJobInput | None:
    """A run's input, whether the API nests the task input under "input" (run details) or not."""
    for candidate in (data.get("input"), data):
        if isinstance(candidate, Mapping) and "request" in candidate and "job_key" in candidate:
            return IndexJobInput.model_validate(candidate)
    return None


def _succeeded(job: Job, output: Mapping[str, Any]) -> Job:
    result = result_from_json(dict(output)) if output else None
    files = result.files_indexed + result.files_unchanged if result else 0
    progress = Progress(files, files, result.chunks_written if result else 0)
    return replace(job, stage="done", progress=progress, result=result)


def _progress_line(message: str) -> tuple[str, Progress] | None:
    if not message.startswith("{"):
        return None
    try:
        data = json.loads(message)
        return str(data["stage"]), Progress(int(data["files_total"]), int(data["files_done"]),
                                            int(data["chunks_written"]))  # fmt: skip
    except (ValueError, KeyError, TypeError):
        return None


def _error_text(serialized: str | None) -> str:
    """The message of the exception that failed the run, without Hatchet's traceback."""
    if not serialized:
        return "the job failed"
    error = TaskRunError.deserialize(serialized)
    return error.exc.strip().split("\n")[0] or serialized.strip().split("\n")[0]


def _created(run: _Run) -> datetime:
    return run.created_at or datetime.min.replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds") if moment else ""


def _latest(*moments: datetime | None) -> datetime | None:
    """The first set moment; the engine reports unset ones as Go's zero time (year 1)."""
    return next((m for m in moments if m is not None and m.year > 1970), None)
