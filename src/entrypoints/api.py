"""The HTTP API (FastAPI): the design's /v1 routes, health, readiness and metrics."""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from application.answering import AnswerEvent, AskRequest, CitationsEvent, TokenEvent
from application.search import MAX_K, SearchRequest
from domain.answers import ChatTurn, Citation
from domain.collections import DEFAULT_COLLECTION
from domain.errors import (
    AccessDenied,
    Conflict,
    DataDirBusy,
    InvalidInput,
    NotFound,
    RateLimited,
    RepochatError,
    UpstreamUnavailable,
)
from domain.jobs import IndexRequest
from entrypoints.chat_completions import ChatCompletionRequest, chat_completion, chat_completion_chunks
from entrypoints.container import Container, running
from entrypoints.source_input import source_spec
from entrypoints.views import answer_view, citation_view, job_view, repository_view

log = logging.getLogger(__name__)

ERROR_STATUS: dict[type[RepochatError], int] = {
    InvalidInput: 400,
    AccessDenied: 403,
    NotFound: 404,
    Conflict: 409,
    DataDirBusy: 409,
    RateLimited: 429,
    UpstreamUnavailable: 503,
}


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


class IndexBody(BaseModel):
    source: str = Field(description="owner/repo, github:owner/repo@ref, a GitHub URL, or a folder on the server")
    ref: str | None = None
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    collection: str = DEFAULT_COLLECTION


class SearchFilters(BaseModel):
    repository: str | None = None


class SearchBody(BaseModel):
    query: str
    k: int = Field(5, ge=1, le=MAX_K)
    collection: str = DEFAULT_COLLECTION
    filters: SearchFilters = Field(default_factory=SearchFilters)


class Turn(BaseModel):
    role: str = Field(pattern="^(user|assistant)$")
    content: str


class AskBody(BaseModel):
    question: str
    history: list[Turn] = Field(default_factory=list)
    collection: str = DEFAULT_COLLECTION
    k: int = Field(5, ge=1, le=MAX_K)
    stream: bool = False
    filters: SearchFilters = Field(default_factory=SearchFilters)

    def request(self) -> AskRequest:
        history = tuple(ChatTurn(t.role, t.content) for t in self.history)
        return AskRequest(self.question, history, self.collection, self.k, self.filters.repository)


def container_of(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def require_api_key(request: Request) -> None:
    """With REPOCHAT_API_KEYS set, every /v1 call needs `Authorization: Bearer <key>` or `X-API-Key`."""
    accepted = container_of(request).settings().accepted_api_keys
    if not accepted:
        return
    header = request.headers.get("authorization", "")
    key = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
    if not key:
        raise _AuthError(401, "missing API key: send Authorization: Bearer <key>")
    if not any(secrets.compare_digest(key, candidate) for candidate in accepted):
        raise _AuthError(403, "this API key is not accepted")


class _AuthError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message


ContainerDep = Annotated[Container, Depends(container_of)]
router = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)])


@router.post("/repositories", status_code=202)
async def index_repository(body: IndexBody, container: ContainerDep) -> dict[str, Any]:
    spec = source_spec(body.source, body.ref, body.include, body.exclude)
    job = await container.submit_index_job().execute(IndexRequest(spec, body.collection))
    return {"job_id": job.id, "repository": job.repository, "job": job_view(job)}


@router.get("/repositories")
async def list_repositories(container: ContainerDep, collection: str | None = None) -> dict[str, Any]:
    found = await container.list_repositories().execute(collection)
    return {"repositories": [repository_view(r) for r in found]}


@router.get("/repositories/{repository:path}")
async def get_repository(repository: str, container: ContainerDep) -> dict[str, Any]:
    found = await container.get_repository().execute(repository)
    return {"repository": repository, "collections": [repository_view(r) for r in found]}


@router.delete("/repositories/{repository:path}")
async def forget_repository(repository: str, container: ContainerDep, collection: str | None = None) -> dict[str, Any]:
    forgotten = await container.forget_repository().execute(repository, collection)
    return {"forgotten": [repository_view(r) for r in forgotten]}


@router.get("/jobs")
async def list_jobs(container: ContainerDep, limit: int = 50) -> dict[str, Any]:
    return {"jobs": [job_view(j) for j in await container.list_jobs().execute(limit)]}


@router.get("/jobs/{job_id}")
async def get_job(job_id: str, container: ContainerDep) -> dict[str, Any]:
    return job_view(await container.get_job().execute(job_id))


@router.delete("/jobs/{job_id}")
async def cancel_job(job_id: str, container: ContainerDep) -> dict[str, Any]:
    return job_view(await container.cancel_job().execute(job_id))


@router.post("/search")
async def search(body: SearchBody, container: ContainerDep) -> dict[str, Any]:
    request = SearchRequest(body.query, body.k, body.collection, body.filters.repository)
    hits = await container.search().execute(request)
    return {"hits": [citation_view(Citation.of(hit)) for hit in hits]}


@router.post("/ask", response_model=None)
async def ask(body: AskBody, container: ContainerDep) -> dict[str, Any] | StreamingResponse:
    if not body.stream:
        return answer_view(await container.answer_question().execute(body.request()))
    if not body.question.strip():
        raise InvalidInput("the question is empty")
    events = await _started(container.stream_answer().execute(body.request()))
    return StreamingResponse(_sse(events), media_type="text/event-stream", headers={"cache-control": "no-cache"})


@router.post("/chat/completions", response_model=None)
async def chat_completions(body: ChatCompletionRequest, container: ContainerDep) -> dict[str, Any] | StreamingResponse:
    """The OpenAI Chat Completions shape, so OpenAI clients and chat UIs can use repochat as a model."""
    request = body.ask_request()
    if not body.stream:
        return await chat_completion(body, request, container.answer_question())
    events = await _started(container.stream_answer().execute(request))
    chunks = chat_completion_chunks(body, events)
    return StreamingResponse(chunks, media_type="text/event-stream", headers={"cache-control": "no-cache"})


async def _started(events: AsyncIterator[AnswerEvent]) -> AsyncIterator[AnswerEvent]:
    """Wait for the first event before answering, so a failure that comes before any token
    (retrieval, a refused API key) is an HTTP error status rather than a 200 stream."""
    first = await anext(events)

    async def replay() -> AsyncIterator[AnswerEvent]:
        yield first
        async for event in events:
            yield event

    return replay()


async def _sse(events: AsyncIterator[TokenEvent | CitationsEvent]) -> AsyncIterator[str]:
    """token events, then one citations event, then done; an error mid-way is an error event."""
    try:
        async for event in events:
            if isinstance(event, TokenEvent):
                yield _event("token", {"text": event.text})
            else:
                citations = [citation_view(c) for c in event.citations]
                yield _event("citations", {"citations": citations, "generated": event.generated})
        yield _event("done", {})
    except RepochatError as e:
        yield _event("error", error_body(e.code, e.message))


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


def create_app(container: Container) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(container, run_jobs=True):
            yield

    app = FastAPI(title="repochat", version="0.1.0", lifespan=lifespan)
    app.state.container = container
    app.include_router(router)
    _add_operations(app, container)
    _add_error_handlers(app)
    _add_metrics(app)
    return app


def _add_operations(app: FastAPI, container: Container) -> None:
    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        checks: dict[str, str] = {}
        for name, ping in (("vector_store", container.vector_index().ping), ("job_queue", container.job_queue().ping)):
            try:
                await ping()
                checks[name] = "ok"
            except RepochatError as e:
                checks[name] = e.message
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RepochatError)
    async def domain_error(request: Request, error: RepochatError) -> JSONResponse:
        status = next((s for cls, s in ERROR_STATUS.items() if isinstance(error, cls)), 500)
        return JSONResponse(error_body(error.code, error.message), status)

    @app.exception_handler(_AuthError)
    async def auth_error(request: Request, error: _AuthError) -> JSONResponse:
        code = "unauthenticated" if error.status == 401 else "forbidden"
        return JSONResponse(error_body(code, error.message), error.status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg')}"
            for e in error.errors()
        )
        return JSONResponse(error_body("invalid_request", problems or "invalid request"), 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(error_body(f"http_{error.status_code}", str(error.detail)), error.status_code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal_error", "an unexpected error happened; see the server log"), 500)


def _add_metrics(app: FastAPI) -> None:
    registry = CollectorRegistry()
    requests = Counter("repochat_http_requests", "HTTP requests", ["method", "route", "status"], registry=registry)
    latency = Histogram("repochat_http_request_seconds", "HTTP request latency", ["route"], registry=registry)

    @app.middleware("http")
    async def measure(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        response: Response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        requests.labels(request.method, route, str(response.status_code)).inc()
        latency.labels(route).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
