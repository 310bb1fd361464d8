"""Hatchet runs of the index task as domain `Job`s: the pure half of `HatchetJobQueue`, no I/O.

A job's id is its workflow run id, its state the run's status, its result the run's output
(an `IndexResult`), its error the message of the exception that failed the run without
Hatchet's traceback. Stage and progress come from the newest progress line the run logged
(`progress`), which the queue reads for the states that show it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from hatchet_sdk import TaskRunError, V1TaskStatus
from hatchet_sdk.clients.rest.models.v1_task_summary import V1TaskSummary
from hatchet_sdk.clients.rest.models.v1_workflow_run import V1WorkflowRun
from pydantic import ValidationError

from adapters.domain_json import INDEX_RESULT
from adapters.queue.hatchet.contract import IndexJobInput
from adapters.queue.hatchet.progress import LoggedProgress
from domain.errors import NotFound
from domain.jobs import Job, JobState, Progress

STATES = {
    V1TaskStatus.QUEUED: JobState.QUEUED,
    V1TaskStatus.RUNNING: JobState.RUNNING,
    V1TaskStatus.COMPLETED: JobState.SUCCEEDED,
    V1TaskStatus.FAILED: JobState.FAILED,
    V1TaskStatus.CANCELLED: JobState.CANCELLED,
}
UNFINISHED = [V1TaskStatus.QUEUED, V1TaskStatus.RUNNING]
_SHOWS_LOGGED_PROGRESS = (JobState.RUNNING, JobState.FAILED, JobState.CANCELLED)
_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class IndexRun:
    """What a job is made of, from a run's details or from a run listing.

    `job_input` is None for a run of the index workflow whose input is not a repochat job's
    as this build writes it, and for a discard run (not a job: `IndexJobInput.discard`).
    """

    id: str
    status: V1TaskStatus
    job_input: IndexJobInput | None
    output: Mapping[str, Any]
    error: str | None
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of_details(cls, run: V1WorkflowRun) -> IndexRun:
        updated = _latest(run.finished_at, run.started_at, run.created_at)
        return cls(
            run.metadata.id, run.status, _job_input(run.input), run.output, run.error_message, run.created_at, updated
        )

    @classmethod
    def of_summary(cls, row: V1TaskSummary) -> IndexRun:
        updated = _latest(row.finished_at, row.started_at, row.created_at)
        run_id = row.workflow_run_external_id or row.metadata.id
        return cls(run_id, row.status, _job_input(row.input), row.output, row.error_message, row.created_at, updated)

    @property
    def state(self) -> JobState:
        return STATES.get(self.status, JobState.QUEUED)

    @property
    def shows_logged_progress(self) -> bool:
        """Whether the job's stage or progress come from its progress lines (else from its state or output)."""
        return self.state in _SHOWS_LOGGED_PROGRESS

    @property
    def created(self) -> datetime:
        """The creation time, for sorting (runs without one first)."""
        return self.created_at or _NEVER


def job_of(run: IndexRun, logged: LoggedProgress | None = None) -> Job:
    """The job a run is; `logged` is its newest progress line, if `run.shows_logged_progress`."""
    if run.job_input is None:
        raise NotFound(f"run {run.id} is not a repochat index job")
    request = run.job_input.request
    state = run.state
    job = Job(
        id=run.id,
        repository=request.source.repository_id,
        request=request,
        state=state,
        stage=state.value,
        created_at=_iso(run.created_at),
        updated_at=_iso(run.updated_at),
    )
    progress = logged.progress if logged else Progress()
    if state is JobState.SUCCEEDED:
        return _succeeded(job, run.output)
    if state is JobState.RUNNING:
        return job.with_progress(logged.stage if logged else "starting", progress)
    if state is JobState.FAILED:
        return replace(job, progress=progress, error=_error_text(run.error))
    if state is JobState.CANCELLED:
        return replace(job, progress=progress)
    return job


def _job_input(data: Mapping[str, Any]) -> IndexJobInput | None:
    """A run's input, whether the API nests the task input under "input" (run details) or not."""
    for candidate in (data.get("input"), data):
        if isinstance(candidate, Mapping) and "request" in candidate and "job_key" in candidate:
            try:
                job_input = IndexJobInput.model_validate(candidate)
            except ValidationError:
                return None
            return None if job_input.discard else job_input
    return None


def _succeeded(job: Job, output: Mapping[str, Any]) -> Job:
    result = INDEX_RESULT.from_data(dict(output)) if output else None
    files = result.files_indexed + result.files_unchanged if result else 0
    progress = Progress(files, files, result.chunks_written if result else 0)
    return replace(job, stage="done", progress=progress, result=result)


def _error_text(serialized: str | None) -> str:
    """The message of the exception that failed the run, without Hatchet's traceback."""
    if not serialized:
        return "the job failed"
    error = TaskRunError.deserialize(serialized)
    return error.exc.strip().split("\n")[0] or serialized.strip().split("\n")[0]


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds") if moment else ""


def _latest(*moments: datetime | None) -> datetime | None:
    """The first set moment; the engine reports unset ones as Go's zero time (year 1)."""
    return next((m for m in moments if m is not None and m.year > 1970), None)
