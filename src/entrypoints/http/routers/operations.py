"""Operations, without an API key: /healthz, /readyz and /metrics.

Routes evaluate their annotations at import (no `from __future__ import annotations`):
dependency-injector finds the `Provide` markers in the `Annotated` types of the live signatures.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated

from dependency_injector.wiring import Provide, inject
from fastapi import APIRouter, Depends, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST

from adapters.disk_reserve import DiskReserve
from adapters.vectorstore.chroma_index import ChromaVectorIndex
from application.ports.jobs import JobQueue
from domain.errors import RepochatError
from entrypoints.container import Container
from entrypoints.http.schemas import Health, Readiness
from entrypoints.metrics import Metrics

router = APIRouter()


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up."""
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={
        503: {
            "model": Readiness,
            "description": "The vector store or the job queue is not reachable, or the data folder's disk is full",
        }
    },
)
@inject
async def readyz(
    response: Response,
    vector_index: Annotated[ChromaVectorIndex, Depends(Provide[Container.vector_index])],
    job_queue: Annotated[JobQueue, Depends(Provide[Container.job_queue])],
    disk_reserve: Annotated[DiskReserve | None, Depends(Provide[Container.disk_reserve])],
) -> Readiness:
    """The vector store and the job queue are reachable; with embedded Chroma, its disk has more room
    than REPOCHAT_DISK_RESERVE_MB (else index jobs cannot write)."""
    checks = {"vector_store": await _check(vector_index.ping), "job_queue": await _check(job_queue.ping)}
    if disk_reserve is not None:
        checks["disk"] = await _check(disk_reserve.ping)
    ready = all(v == "ok" for v in checks.values())
    response.status_code = 200 if ready else 503
    return Readiness(status="ready" if ready else "not ready", checks=checks)


async def _check(ping: Callable[[], Awaitable[None]]) -> str:
    try:
        await ping()
    except RepochatError as e:
        return e.message
    return "ok"


@router.get("/metrics", response_class=PlainTextResponse)
@inject
async def metrics(
    exported: Annotated[Metrics, Depends(Provide[Container.metrics])],
    job_records: Annotated[JobQueue | None, Depends(Provide[Container.job_records])],
) -> Response:
    """Prometheus metrics: HTTP requests, searches, embedding and LLM calls, index jobs (see the README)."""
    await exported.read_jobs(job_records)
    return Response(exported.exposition(), media_type=CONTENT_TYPE_LATEST)
