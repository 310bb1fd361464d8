"""The HTTP API (FastAPI): the design's /v1 routes, health, readiness and metrics.

Routes receive the use cases they call from the container, through dependency-injector's
wiring (`@inject` with `Provide[Container.x]`), and declare what they answer: a response model
for success and `ErrorResponse` for each error status they can give, so /openapi.json tells
the truth about every body the app sends.

This module evaluates its annotations at import (no `from __future__ import annotations`):
dependency-injector finds the `Provide` markers in the `Annotated` types of the live signatures.
"""

import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from dependency_injector.wiring import Provide, inject
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from mcp.server.transport_security import TransportSecuritySettings
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.vectorstore.chroma_index import ChromaVectorIndex
from application.answering import AnswerEvent, AnswerQuestion, AskRequest, CitationsEvent, TokenEvent
from application.jobs import CancelJob, GetJob, ListJobs, SubmitIndexJob
from application.ports.jobs import JobQueue
from application.repositories import ForgetRepository, GetRepository, ListRepositories
from application.search import Search, SearchRequest
from application.sync import QueuedSync, SyncPushedRef
from domain.answers import ChatTurn
from domain.collections import DEFAULT_COLLECTION
from domain.errors import (
    AccessDenied,
    Conflict,
    DataDirBusy,
    InvalidInput,
    NotAllowed,
    NotFound,
    RateLimited,
    RepochatError,
    UpstreamUnavailable,
)
from domain.jobs import IndexRequest
from domain.limits import MAX_K
from domain.retrieval import RetrievalMode
from domain.webhooks import Push, is_signed_by, push_of
from entrypoints.chat_completions import (
    ChatCompletion,
    ChatCompletionRequest,
    Model,
    ModelList,
    ModelNotFound,
    chat_completion,
    chat_completion_chunks,
    check_question,
)
from entrypoints.container import Container, running
from entrypoints.mcp_server import create_mcp_server
from entrypoints.metrics import TimedRequests
from entrypoints.settings import Settings
from entrypoints.source_input import LocalFolders, source_spec
from entrypoints.views import (
    ABSTAINED,
    GENERATED,
    REF_FILTER,
    SEARCH_QUERY,
    AnswerView,
    CitationView,
    ErrorResponse,
    Forgotten,
    IndexAccepted,
    JobList,
    JobView,
    OpenAIErrorResponse,
    QueuedSyncView,
    RepositoryDetail,
    RepositoryList,
    SearchResponse,
    WebhookAnswer,
)

log = logging.getLogger(__name__)

ERROR_STATUS: dict[type[RepochatError], int] = {
    InvalidInput: 400,
    AccessDenied: 403,
    NotAllowed: 403,
    NotFound: 404,
    Conflict: 409,
    DataDirBusy: 409,
    RateLimited: 429,
    UpstreamUnavailable: 503,
}

ERROR_MEANINGS: dict[int, str] = {
    400: "Invalid input (an empty query, an unknown source, a bad collection name)",
    401: "No API key was sent (only when REPOCHAT_API_KEYS is set)",
    403: (
        "The API key is not accepted, a local folder is outside REPOCHAT_LOCAL_ROOTS, "
        "or an upstream (GitHub, OpenAI) refused repochat's credentials"
    ),
    404: "No such repository, job or model, or no repository searched is indexed at the ref asked for",
    409: "A conflict: the collection holds another embedder's vectors, or another process owns the data folder",
    413: "The request body is over REPOCHAT_MAX_BODY_BYTES",
    422: "The request does not match its schema, or its question is over REPOCHAT_MAX_QUESTION_BYTES",
    429: "An upstream (GitHub, OpenAI) is rate limiting repochat",
    503: "An upstream (Chroma, the job queue, OpenAI, GitHub) is failing or unreachable",
}

WEBHOOK_ERROR_MEANINGS: dict[int, str] = {
    **ERROR_MEANINGS,
    400: "The payload is not JSON, or not a push event's",
    401: "The X-Hub-Signature-256 header is missing or does not sign the body with the webhook's secret",
    404: "Webhooks are off: REPOCHAT_GITHUB_WEBHOOK_SECRET is not set",
    413: "The delivery is over 25 MB, GitHub's own cap on webhook payloads",
    503: "The job queue or the vector store is failing or unreachable",
}

MCP_PATH = "/mcp"
MCP_METHODS = ["GET", "POST", "DELETE"]

EVENT_STREAM_SCHEMA = {
    "type": "object",
    "description": "one Server-Sent Event: its name (none on chat completions) and its data, a JSON text",
    "properties": {"event": {"type": "string"}, "data": {"type": "string"}},
    "required": ["data"],
}
V1_ERRORS = (401, 403, 409, 413, 422, 503)
OPENAI_PREFIXES = ("/v1/chat/", "/v1/models")
"""Routes whose error bodies also carry OpenAI's `type` and `param`."""
MAX_JOBS_LISTED = 500
WEBHOOK_PATH = "/v1/webhooks/github"
WEBHOOK_MAX_BODY_BYTES = 25 * 1024 * 1024
"""GitHub caps webhook payloads at 25 MB: deliveries may be larger than REPOCHAT_MAX_BODY_BYTES."""


def error_responses(
    *statuses: int, model: type[BaseModel] = ErrorResponse, meanings: Mapping[int, str] = ERROR_MEANINGS
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` declaring `model` (ErrorResponse) as the body of each status."""
    return {status: {"model": model, "description": meanings[status]} for status in statuses}


def openai_error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The statuses of an OpenAI-shaped route, the /v1 ones included, with OpenAIErrorResponse bodies."""
    return error_responses(*V1_ERRORS, *statuses, model=OpenAIErrorResponse)


def streamed_alternative(description: str) -> dict[int | str, dict[str, Any]]:
    """Declares a 200 `text/event-stream` body beside the route's JSON response model."""
    return {200: {"description": description, "content": {"text/event-stream": {"schema": EVENT_STREAM_SCHEMA}}}}


class StrictBody(BaseModel):
    """Request bodies take JSON's own types: `"3"` is not a number, `true` not a count."""

    model_config = ConfigDict(strict=True)


QUESTION_LIMIT = "at most REPOCHAT_MAX_QUESTION_BYTES (16384 by default) UTF-8 bytes, else a 422"


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("it is blank")
    return text


Question = Annotated[
    str,
    Field(min_length=1, json_schema_extra={"pattern": r"\S"}, description=f"not blank; {QUESTION_LIMIT}"),
    AfterValidator(_not_blank),  # what the schema's pattern says, with a message that says it
]


class IndexBody(StrictBody):
    source: str = Field(description="owner/repo, github:owner/repo@ref, a GitHub URL, or a folder on the server")
    ref: str | None = Field(
        default=None,
        description="The branch, tag or commit SHA to index (GitHub only), beside the refs of the repository "
        "already indexed; null: the ref the source names, else the default branch",
    )
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    collection: str = DEFAULT_COLLECTION


class SearchFilters(StrictBody):
    repository: str | None = Field(default=None, description="Only this repository (an id of `GET /v1/repositories`)")
    ref: str | None = Field(default=None, description=REF_FILTER)


Mode = Annotated[
    RetrievalMode | None,
    Field(
        strict=False, description="how to rank passages; omitted: the server's REPOCHAT_RETRIEVAL (hybrid by default)"
    ),
]


class SearchBody(StrictBody):
    query: Question
    k: int = Field(5, ge=1, le=MAX_K)
    collection: str = DEFAULT_COLLECTION
    filters: SearchFilters = Field(default_factory=SearchFilters)
    mode: Mode = None


class Turn(StrictBody):
    role: Literal["user", "assistant"]
    content: str


class AskBody(StrictBody):
    question: Question
    history: list[Turn] = Field(default_factory=list)
    collection: str = DEFAULT_COLLECTION
    k: int = Field(5, ge=1, le=MAX_K)
    stream: bool = False
    filters: SearchFilters = Field(default_factory=SearchFilters)
    mode: Mode = None

    def request(self, max_question_bytes: int) -> AskRequest:
        check_question(self.question, max_question_bytes, "question")
        history = tuple(ChatTurn(t.role, t.content) for t in self.history)
        filters = self.filters
        return AskRequest(
            self.question, history, self.collection, self.k, filters.repository, mode=self.mode, ref=filters.ref
        )


class StreamedToken(BaseModel):
    """The data of a `token` event of a streamed answer."""

    text: str


class StreamedCitations(BaseModel):
    """The data of the `citations` event, sent once after the last token."""

    citations: list[CitationView]
    generated: bool = Field(description=GENERATED)
    search_query: str = Field(description=SEARCH_QUERY)
    abstained: bool = Field(description=ABSTAINED)

    @classmethod
    def of(cls, event: CitationsEvent) -> "StreamedCitations":
        return cls(
            citations=CitationView.all_of(event.citations),
            generated=event.generated,
            search_query=event.search_query,
            abstained=event.abstained,
        )


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str] = Field(description="`ok`, or why a dependency is not reachable, by dependency")


class _AuthError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message


def check_api_key(headers: Mapping[str, str], accepted: frozenset[str]) -> None:
    """With API keys configured, a request needs `Authorization: Bearer <key>` or `X-API-Key: <key>`."""
    if not accepted:
        return
    header = headers.get("authorization", "")
    key = header[7:].strip() if header.lower().startswith("bearer ") else headers.get("x-api-key", "")
    if not key:
        raise _AuthError(401, "missing API key: send Authorization: Bearer <key>")
    if not any(secrets.compare_digest(key, candidate) for candidate in accepted):
        raise _AuthError(403, "this API key is not accepted")


KEY_HELP = "One of REPOCHAT_API_KEYS, when the server sets them (else no key is needed)"
bearer_key = HTTPBearer(auto_error=False, description=KEY_HELP)
header_key = APIKeyHeader(name="X-API-Key", auto_error=False, description=KEY_HELP)


@inject
async def require_api_key(
    request: Request,
    settings: Annotated[Settings, Depends(Provide[Container.settings])],
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_key)],
    _header: Annotated[str | None, Security(header_key)],
) -> None:
    """Every /v1 call (and /mcp) needs one of REPOCHAT_API_KEYS when it is set.

    The two security schemes declare the key's two places in OpenAPI (so /docs can send a key);
    check_api_key reads them, and refuses with repochat's error bodies."""
    check_api_key(request.headers, settings.accepted_api_keys)


router = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)], responses=error_responses(*V1_ERRORS))
operations = APIRouter()
webhooks = APIRouter()
"""Without the API key of /v1: GitHub authenticates its deliveries with their signature instead."""


@router.post("/repositories", status_code=202, response_model=IndexAccepted, responses=error_responses(400))
@inject
async def index_repository(
    body: IndexBody,
    submit: Annotated[SubmitIndexJob, Depends(Provide[Container.submit_index_job])],
    settings: Annotated[Settings, Depends(Provide[Container.settings])],
) -> IndexAccepted:
    local = LocalFolders.for_remote_callers(settings)
    spec = source_spec(body.source, body.ref, body.include, body.exclude, local)
    return IndexAccepted.of(await submit.execute(IndexRequest(spec, body.collection)))


@router.get("/repositories", response_model=RepositoryList)
@inject
async def list_repositories(
    repositories: Annotated[ListRepositories, Depends(Provide[Container.list_repositories])],
    collection: str | None = None,
) -> RepositoryList:
    """Every indexed ref of every repository: one entry per (collection, repository, ref), with its commit."""
    return RepositoryList.of(await repositories.execute(collection))


@router.get("/repositories/{repository:path}", response_model=RepositoryDetail, responses=error_responses(404))
@inject
async def get_repository(
    repository: str, get: Annotated[GetRepository, Depends(Provide[Container.get_repository])]
) -> RepositoryDetail:
    return RepositoryDetail.of(repository, await get.execute(repository))


@router.delete("/repositories/{repository:path}", response_model=Forgotten, responses=error_responses(400, 404))
@inject
async def forget_repository(
    repository: str,
    forget: Annotated[ForgetRepository, Depends(Provide[Container.forget_repository])],
    collection: Annotated[str | None, Query(description="Only from this collection; omitted: from every one")] = None,
    ref: Annotated[
        str | None,
        Query(
            description="Only this branch, tag or commit SHA (`HEAD`: the default branch), keeping the repository's "
            "other refs searchable; omitted: every ref. A ref not indexed is a 404 naming the refs that are"
        ),
    ] = None,
) -> Forgotten:
    """Forget a repository, at every ref or at one: its passages leave the index, and searches."""
    return Forgotten.of(await forget.execute(repository, collection, ref))


@router.get("/jobs", response_model=JobList)
@inject
async def list_jobs(
    jobs: Annotated[ListJobs, Depends(Provide[Container.list_jobs])],
    limit: Annotated[int, Query(ge=1, le=MAX_JOBS_LISTED, description="the newest jobs, at most this many")] = 50,
) -> JobList:
    return JobList.of(await jobs.execute(limit))


@router.get("/jobs/{job_id}", response_model=JobView, responses=error_responses(404))
@inject
async def get_job(job_id: str, get: Annotated[GetJob, Depends(Provide[Container.get_job])]) -> JobView:
    return JobView.of(await get.execute(job_id))


@router.delete("/jobs/{job_id}", response_model=JobView, responses=error_responses(404))
@inject
async def cancel_job(job_id: str, cancel: Annotated[CancelJob, Depends(Provide[Container.cancel_job])]) -> JobView:
    return JobView.of(await cancel.execute(job_id))


@router.post("/search", response_model=SearchResponse, responses=error_responses(400, 404, 429))
@inject
async def search(
    body: SearchBody,
    search_documents: Annotated[Search, Depends(Provide[Container.search])],
    settings: Annotated[Settings, Depends(Provide[Container.settings])],
) -> SearchResponse:
    check_question(body.query, settings.max_question_bytes, "query")
    filters = body.filters
    request = SearchRequest(body.query, body.k, body.collection, filters.repository, body.mode, ref=filters.ref)
    found = await search_documents.execute(request)
    return SearchResponse.of(found.mode, found.hits)


@router.post(
    "/ask",
    response_model=AnswerView,
    responses={
        **streamed_alternative(
            "With `stream: true`: `token` events, then one `citations` event "
            "(`{citations, generated, search_query, abstained}`), then `done`"
        ),
        **error_responses(400, 404, 429),
    },
)
@inject
async def ask(
    body: AskBody,
    answer_question: Annotated[AnswerQuestion, Depends(Provide[Container.answer_question])],
    settings: Annotated[Settings, Depends(Provide[Container.settings])],
) -> AnswerView | StreamingResponse:
    request = body.request(settings.max_question_bytes)
    if not body.stream:
        return AnswerView.of(await answer_question.execute(request))
    events = await _started(answer_question.stream(request))
    return event_stream(_answer_events(events))


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={
        **streamed_alternative("With `stream: true`: `chat.completion.chunk` objects, then `[DONE]`"),
        **openai_error_responses(400, 404, 429),
    },
)
@inject
async def chat_completions(
    body: ChatCompletionRequest,
    answer_question: Annotated[AnswerQuestion, Depends(Provide[Container.answer_question])],
    repositories: Annotated[ListRepositories, Depends(Provide[Container.list_repositories])],
    settings: Annotated[Settings, Depends(Provide[Container.settings])],
) -> ChatCompletion | StreamingResponse:
    """The OpenAI Chat Completions shape, so OpenAI clients and chat UIs can use repochat as a model."""
    collections = {entry.collection for entry in await repositories.execute()} if body.names_a_collection else ()
    request = body.ask_request(collections, settings.max_question_bytes)
    if not body.stream:
        return chat_completion(body.model, await answer_question.execute(request))
    events = await _started(answer_question.stream(request))
    return event_stream(chat_completion_chunks(body, events, status_of))


@router.get("/models", response_model=ModelList, responses=openai_error_responses())
@inject
async def list_models(
    repositories: Annotated[ListRepositories, Depends(Provide[Container.list_repositories])],
) -> ModelList:
    """`repochat` (the default collection) and `repochat:<collection>` per collection with indexed repositories."""
    return ModelList.of(await repositories.execute())


@router.get("/models/{model}", response_model=Model, responses=openai_error_responses(404))
@inject
async def get_model(
    model: str, repositories: Annotated[ListRepositories, Depends(Provide[Container.list_repositories])]
) -> Model:
    found = [m for m in ModelList.of(await repositories.execute()).data if m.id == model]
    if not found:
        raise ModelNotFound(f"the model {model!r} does not exist")
    return found[0]


async def _started(events: AsyncIterator[AnswerEvent]) -> AsyncIterator[AnswerEvent]:
    """Wait for the first event before answering, so a failure that comes before any token
    (an empty question, retrieval, a refused API key) is an HTTP error status rather than a 200 stream."""
    first = await anext(events)

    async def replay() -> AsyncIterator[AnswerEvent]:
        yield first
        try:
            async for event in events:
                yield event
        except RepochatError:
            raise
        except Exception as e:  # a bug: still an error event, not a stream cut without a word
            log.exception("an answer broke off")
            raise RepochatError("the answer broke off on an unexpected error; see the server log") from e

    return replay()


def event_stream(lines: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(lines, media_type="text/event-stream", headers={"cache-control": "no-cache"})


async def _answer_events(events: AsyncIterator[AnswerEvent]) -> AsyncIterator[str]:
    """token events, then one citations event, then done; an answer that breaks off ends with an
    error event instead, with neither citations nor done."""
    try:
        async for event in events:
            if isinstance(event, TokenEvent):
                yield _event("token", StreamedToken(text=event.text))
            else:
                yield _event("citations", StreamedCitations.of(event))
        yield _event("done", "{}")
    except RepochatError as e:
        yield _event("error", ErrorResponse.of(e.code, e.message))


def _event(name: str, data: BaseModel | str) -> str:
    payload = data if isinstance(data, str) else data.model_dump_json()
    return f"event: {name}\ndata: {payload}\n\n"


@webhooks.post(
    WEBHOOK_PATH,
    status_code=202,
    response_model=WebhookAnswer,
    responses={
        200: {
            "model": WebhookAnswer,
            "description": "A `ping` (the webhook is set up and its secret matches), or a delivery handled before",
        },
        **error_responses(400, 401, 404, 413, 422, 503, meanings=WEBHOOK_ERROR_MEANINGS),
    },
)
@inject
async def github_webhook(
    request: Request,
    response: Response,
    sync_pushed_ref: Annotated[SyncPushedRef, Depends(Provide[Container.sync_pushed_ref])],
    settings: Annotated[Settings, Depends(Provide[Container.settings])],
    x_github_event: Annotated[str, Header(description="The event: `push` and `ping` are acted on")] = "",
    x_hub_signature_256: Annotated[str | None, Header(description="`sha256=` HMAC-SHA256 of the body")] = None,
    x_github_delivery: Annotated[str | None, Header(description="The delivery's id")] = None,
) -> WebhookAnswer:
    """GitHub's webhooks: a `push` to an indexed ref of an indexed repository queues a sync of that ref.

    Needs no API key: each delivery must be signed with REPOCHAT_GITHUB_WEBHOOK_SECRET
    (`X-Hub-Signature-256`), else it is refused with 401 and nothing is queued; without the
    secret configured, the route is off (404). A `ping` answers 200; other events, and pushes
    to refs nothing indexes, answer 202 with nothing queued. A delivery replayed within a day
    (same `X-GitHub-Delivery`) answers 200 with nothing queued. A sync joins a job of the
    repository already queued or running. Payloads may be sent as JSON or form-encoded.
    """
    secret = settings.webhook_secret
    if secret is None:
        raise NotFound("GitHub webhooks are off on this server: set REPOCHAT_GITHUB_WEBHOOK_SECRET to turn them on")
    body = await request.body()
    if not is_signed_by(secret, body, x_hub_signature_256):
        raise _AuthError(
            401, "X-Hub-Signature-256 is missing or does not sign this body with the webhook's secret: nothing queued"
        )
    answer = WebhookAnswer(event=x_github_event, delivery=x_github_delivery, queued=[], message="")
    if x_github_event == "ping":
        response.status_code = 200
        return answer.model_copy(update={"message": "pong: the webhook is set up and its secret matches"})
    if x_github_event != "push":
        return answer.model_copy(update={"message": f"{x_github_event or 'an unnamed'} event: nothing to sync"})
    push = push_of(_webhook_payload(body, request.headers.get("content-type", "")))
    syncs = await sync_pushed_ref.execute(push, x_github_delivery)
    if syncs.replay_of is not None:
        response.status_code = 200
        handled = syncs.replay_of.isoformat(timespec="seconds")
        return answer.model_copy(update={"message": f"this delivery was handled at {handled}: nothing queued"})
    views = [QueuedSyncView.of(q) for q in syncs.queued]
    return answer.model_copy(update={"queued": views, "message": _push_message(push, syncs.queued)})


def _webhook_payload(body: bytes, content_type: str) -> dict[str, Any]:
    """The JSON payload, sent as the body itself or as the `payload` field of a form."""
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            body = parse_qs(body.decode(), strict_parsing=True)["payload"][0].encode()
        payload = json.loads(body)
    except (ValueError, KeyError) as e:
        raise InvalidInput("the webhook's payload is not JSON (or a form with a JSON `payload` field)") from e
    if not isinstance(payload, dict):
        raise InvalidInput("the webhook's payload is not a JSON object")
    return payload


def _push_message(push: Push, queued: Sequence[QueuedSync]) -> str:
    if push.deleted:
        return f"the push deleted {push.ref}: nothing to sync"
    if not queued:
        return f"nothing indexed follows {push.ref} of {push.repository}: nothing queued"
    return f"{len(queued)} sync{'s' if len(queued) > 1 else ''} of {push.ref} of {push.repository} queued"


@operations.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up."""
    return Health()


@operations.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "The vector store or the job queue is not reachable"}},
)
@inject
async def readyz(
    response: Response,
    vector_index: Annotated[ChromaVectorIndex, Depends(Provide[Container.vector_index])],
    job_queue: Annotated[JobQueue, Depends(Provide[Container.job_queue])],
) -> Readiness:
    """The vector store and the job queue are reachable."""
    checks = {"vector_store": await _check(vector_index.ping), "job_queue": await _check(job_queue.ping)}
    ready = all(v == "ok" for v in checks.values())
    response.status_code = 200 if ready else 503
    return Readiness(status="ready" if ready else "not ready", checks=checks)


async def _check(ping: Callable[[], Awaitable[None]]) -> str:
    try:
        await ping()
    except RepochatError as e:
        return e.message
    return "ok"


def create_app(container: Container) -> FastAPI:
    settings = container.settings()
    mcp = create_mcp_server(container.mcp_tools(), read_only=settings.mcp_read_only)
    mcp_app = mcp.streamable_http_app(
        streamable_http_path=MCP_PATH, stateless_http=True, transport_security=_mcp_security(settings)
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(container, run_schedule=True), mcp.session_manager.run():
            yield

    container.wire(modules=[__name__])
    app = FastAPI(title="repochat", version="0.1.0", lifespan=lifespan)
    app.include_router(router)
    app.include_router(webhooks)
    app.include_router(operations)
    app.router.routes.append(Route(MCP_PATH, _KeyedApp(mcp_app, settings.accepted_api_keys), methods=MCP_METHODS))
    web = Path(__file__).with_name("web")  # the chat page: static files, no build step, no API key to load
    app.mount("/static", StaticFiles(directory=web), name="static")
    app.add_api_route("/", lambda: FileResponse(web / "index.html"), include_in_schema=False)
    _add_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, larger={WEBHOOK_PATH: WEBHOOK_MAX_BODY_BYTES})
    _add_metrics(app, container)  # the outermost middleware: it counts every answer, a 413 too
    return app


def status_of(error: RepochatError) -> int:
    return next((s for cls, s in ERROR_STATUS.items() if isinstance(error, cls)), 500)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RepochatError)
    async def domain_error(request: Request, error: RepochatError) -> JSONResponse:
        return _error(error.code, error.message, status_of(error), request.url.path)

    @app.exception_handler(_AuthError)
    async def auth_error(request: Request, error: _AuthError) -> JSONResponse:
        code = "unauthenticated" if error.status == 401 else "forbidden"
        return _error(code, error.message, error.status, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return _error("invalid_request", _problems(error.errors()) or "invalid request", 422, request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        """Starlette's own answers (404, 405 with its Allow header) in the error shape."""
        response = _error(f"http_{error.status_code}", str(error.detail), error.status_code, request.url.path)
        response.headers.update(error.headers or {})
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error("internal_error", "an unexpected error happened; see the server log", 500)


class BodyLimit:
    """Refuses a request body over `max_bytes` (REPOCHAT_MAX_BODY_BYTES) with a 413 before the app reads
    any of it: at once when Content-Length says so, else once the bytes received pass the limit.

    The paths of `larger` have their own, larger limit (GitHub's webhook deliveries)."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: Mapping[str, int]) -> None:
        self._app = app
        self._max_bytes = max_bytes
        self._larger = larger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        limit = self._larger.get(scope["path"], self._max_bytes)
        declared = Headers(scope=scope).get("content-length", "")
        too_large = declared.isdigit() and int(declared) > limit
        received = None if too_large else await self._read(receive, limit)
        if received is None:
            setting = "" if scope["path"] in self._larger else " (REPOCHAT_MAX_BODY_BYTES)"
            message = f"the request body is over the limit of {limit} bytes{setting}"
            await _error("request_too_large", message, 413, scope["path"])(scope, receive, send)
            return
        buffered = received

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self._app(scope, replay, send)

    async def _read(self, receive: Receive, limit: int) -> list[Message] | None:
        """The body's messages, at most `limit` bytes of body in all; None past that."""
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            size += len(message.get("body", b""))
            if size > limit:
                return None
            if not message.get("more_body", False):
                return messages


class _KeyedApp:
    """An ASGI app behind the API keys of /v1, refusing without a key as /v1 does."""

    def __init__(self, app: ASGIApp, accepted: frozenset[str]) -> None:
        self._app = app
        self._accepted = accepted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            check_api_key(Headers(scope=scope), self._accepted)
        except _AuthError as e:
            code = "unauthenticated" if e.status == 401 else "forbidden"
            await _error(code, e.message, e.status)(scope, receive, send)
            return
        await self._app(scope, receive, send)


def _mcp_security(settings: Settings) -> TransportSecuritySettings:
    """Without API keys, /mcp answers only requests addressed to this machine by a local page or
    client (DNS-rebinding protection, as MCP asks of local servers); with keys, the key decides."""
    if settings.accepted_api_keys:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    local = ["127.0.0.1", "localhost", "[::1]"]
    return TransportSecuritySettings(
        allowed_hosts=[f"{host}:*" for host in local] + local,
        allowed_origins=[f"http://{host}:*" for host in local],
    )


def _error(code: str, message: str, status: int, path: str = "") -> JSONResponse:
    """The error body; on the OpenAI-shaped routes, with OpenAI's `type` and `param` too."""
    if path.startswith(OPENAI_PREFIXES):
        return JSONResponse(OpenAIErrorResponse.of(code, message, status).model_dump(), status)
    return JSONResponse(ErrorResponse.of(code, message).model_dump(), status)


def _problems(errors: Sequence[Any]) -> str:
    """`field.path: what is wrong` for each validation error, without the `body` prefix."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg')}" for e in errors
    )


def _add_metrics(app: FastAPI, container: Container) -> None:
    exported = container.metrics()
    app.add_middleware(TimedRequests, metrics=exported)

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
        """Prometheus metrics: HTTP requests, searches, embedding and LLM calls, index jobs (see the README)."""
        await exported.read_jobs(container.job_records())
        return Response(exported.exposition(), media_type=CONTENT_TYPE_LATEST)
