"""/v1/jobs: the index jobs, listed, read and cancelled.

Routes evaluate their annotations at import (no `from __future__ import annotations`):
dependency-injector finds the `Provide` markers in the `Annotated` types of the live signatures.
"""

from typing import Annotated

from dependency_injector.wiring import Provide, inject
from fastapi import Depends, Query

from application.jobs import CancelJob, GetJob, ListJobs
from entrypoints.container import Container
from entrypoints.http.errors import error_responses
from entrypoints.http.security import CurrentCaller, v1_router
from entrypoints.views import JobList, JobView

MAX_JOBS_LISTED = 500

router = v1_router()


@router.get("/jobs", response_model=JobList)
@inject
async def list_jobs(
    caller: CurrentCaller,
    jobs: Annotated[ListJobs, Depends(Provide[Container.list_jobs])],
    limit: Annotated[int, Query(ge=1, le=MAX_JOBS_LISTED, description="the newest jobs, at most this many")] = 50,
) -> JobList:
    return JobList.of(await jobs.execute(limit, caller))


@router.get("/jobs/{job_id}", response_model=JobView, responses=error_responses(404))
@inject
async def get_job(
    job_id: str, caller: CurrentCaller, get: Annotated[GetJob, Depends(Provide[Container.get_job])]
) -> JobView:
    return JobView.of(await get.execute(job_id, caller))


@router.delete("/jobs/{job_id}", response_model=JobView, responses=error_responses(404), summary="Cancel Job")
@inject
async def cancel_job(
    job_id: str, caller: CurrentCaller, cancel: Annotated[CancelJob, Depends(Provide[Container.cancel_job])]
) -> JobView:
    """Cancels the job, and does not delete it: it stays readable at `GET /v1/jobs/{job_id}`, `cancelled`,
    or in the state it had already ended in (a finished job is left as it is)."""
    return JobView.of(await cancel.execute(job_id, caller))
