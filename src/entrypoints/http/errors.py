"""Errors over HTTP: the domain error → status map, the error bodies and handlers, and the
error responses each route declares in OpenAPI."""

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

import domain.errors
from entrypoints.views import ErrorResponse, OpenAIErrorResponse

log = logging.getLogger(__name__)

ERROR_STATUS: dict[type[domain.errors.RepochatError], int] = {
    domain.errors.InvalidInput: 400,
    domain.errors.AccessDenied: 403,
    domain.errors.NotAllowed: 403,
    domain.errors.NotFound: 404,
    domain.errors.Conflict: 409,
    domain.errors.DataDirBusy: 409,
    domain.errors.RateLimited: 429,
    domain.errors.UpstreamUnavailable: 503,
    domain.errors.StorageFull: 507,
}

BODY_IDLE_SECONDS = 10.0
"""How long a request body may stop arriving before it is a 408: a client that sends nothing more is gone."""
BODY_SECONDS = 60.0
"""How long a whole request body may take (a 408 past it): a byte every few seconds would else hold a request
for days. 1 MiB in a minute is 17 KB/s."""

ERROR_MEANINGS: dict[int, str] = {
    400: (
        "Invalid input (an empty query, an unknown source, a bad collection name, a question over "
        "REPOCHAT_MAX_QUESTION_BYTES or a history over REPOCHAT_MAX_HISTORY_BYTES)"
    ),
    401: "No API key was sent (only when the server has keys: REPOCHAT_API_KEYS, or `repochat keys create`)",
    403: (
        "The API key is not accepted, its role does not allow this, a local folder is outside "
        "REPOCHAT_LOCAL_ROOTS, or an upstream (GitHub, OpenAI) refused repochat's credentials"
    ),
    404: "No such repository, job or model, or no repository searched is indexed at the ref asked for",
    408: f"The request body stopped arriving for {BODY_IDLE_SECONDS:.0f} s, or took over {BODY_SECONDS:.0f} s",
    409: "A conflict: the collection holds another embedder's vectors, or another process owns the data folder",
    413: "The request body is over REPOCHAT_MAX_BODY_BYTES",
    422: "The request does not match its schema (a field of the wrong type, or one the body does not have)",
    429: "An upstream (GitHub, OpenAI) is rate limiting repochat",
    503: "An upstream (Chroma, the job queue, OpenAI, GitHub) is failing or unreachable",
    507: "The disk holding the stored data is full (embedded Chroma: under REPOCHAT_DISK_RESERVE_MB free)",
}

V1_ERRORS = (401, 403, 408, 409, 413, 422, 503, 507)
OPENAI_PREFIXES = ("/v1/chat/", "/v1/models")
"""Routes whose error bodies also carry OpenAI's `type` and `param`."""
MISPLACED_FIELDS = {"ref": "filters.ref", "repository": "filters.repository"}
"""Top-level fields of a search or a question that belong under `filters`: the 422 says where."""


class AuthError(Exception):
    """A request without an accepted API key (401, 403) or webhook signature (401); `reason` labels the
    count of refusals in /metrics."""

    def __init__(self, status: int, message: str, reason: str = "unsigned") -> None:
        self.status = status
        self.message = message
        self.reason = reason

    @property
    def code(self) -> str:
        return "unauthenticated" if self.status == 401 else "forbidden"


class BodyRefused(StarletteHTTPException):
    """A request body refused as it arrives, so the route reading it stops there; its answer closes the
    connection (`closing`)."""

    code = ""

    def response(self, path: str) -> JSONResponse:
        return closing(error_response(self.code, self.detail, self.status_code, path))


class BodyTooLarge(BodyRefused):
    """A request body over its limit (413): REPOCHAT_MAX_BODY_BYTES, or a route's own (`own_limit`)."""

    code = "request_too_large"

    def __init__(self, limit: int, own_limit: bool) -> None:
        setting = "" if own_limit else " (REPOCHAT_MAX_BODY_BYTES)"
        super().__init__(413, f"the request body is over the limit of {limit} bytes{setting}")


class BodyTooSlow(BodyRefused):
    """A request body that stopped arriving for BODY_IDLE_SECONDS, or a route's own deadline passed (408)."""

    code = "request_timeout"

    def __init__(self, message: str = "") -> None:
        idle, whole = f"{BODY_IDLE_SECONDS:.0f} s", f"{BODY_SECONDS:.0f} s"
        super().__init__(408, message or f"the request body stopped arriving for {idle}, or took over {whole}")


def closing(response: JSONResponse) -> JSONResponse:
    """The answer to a request whose body was not read whole: what is left of it cannot be told from a next
    request, so the connection closes."""
    response.headers["connection"] = "close"
    return response


def error_responses(
    *statuses: int, model: type[BaseModel] = ErrorResponse, meanings: Mapping[int, str] = ERROR_MEANINGS
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` declaring `model` (ErrorResponse) as the body of each status."""
    return {status: {"model": model, "description": meanings[status]} for status in statuses}


def openai_error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The statuses of an OpenAI-shaped route, the /v1 ones included, with OpenAIErrorResponse bodies."""
    return error_responses(*V1_ERRORS, *statuses, model=OpenAIErrorResponse)


def status_of(error: domain.errors.RepochatError) -> int:
    return next((s for cls, s in ERROR_STATUS.items() if isinstance(error, cls)), 500)


def error_response(code: str, message: str, status: int, path: str = "") -> JSONResponse:
    """The error body; on the OpenAI-shaped routes, with OpenAI's `type` and `param` too. A message that
    repeats a caller's text holding what UTF-8 cannot encode (a lone surrogate) shows it escaped."""
    message = message.encode("utf-8", "backslashreplace").decode("utf-8")
    if path.startswith(OPENAI_PREFIXES):
        return JSONResponse(OpenAIErrorResponse.of(code, message, status).model_dump(), status)
    return JSONResponse(ErrorResponse.of(code, message).model_dump(), status)


def add_error_handlers(app: FastAPI, routes: Sequence[BaseRoute], not_allowed: Callable[[], None]) -> None:
    """The error shape for every failure; a 405 allows the methods of all `routes` of its path. What the
    deployment does not allow its caller (NotAllowed: a role, a folder) is counted with `not_allowed`."""

    @app.exception_handler(domain.errors.RepochatError)
    async def domain_error(request: Request, error: domain.errors.RepochatError) -> JSONResponse:
        if isinstance(error, domain.errors.NotAllowed):
            not_allowed()
        return error_response(error.code, error.message, status_of(error), request.url.path)

    @app.exception_handler(AuthError)
    async def auth_error(request: Request, error: AuthError) -> JSONResponse:
        return error_response(error.code, error.message, error.status, request.url.path)

    add_body_error_handlers(app)

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, _error: ClientDisconnect) -> JSONResponse:
        """Nobody reads this answer: the client broke off while sending its request, which is no error of ours."""
        return error_response("client_disconnected", "the client broke off its request", 400, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return error_response("invalid_request", problems(error.errors()) or "invalid request", 422, request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        """Starlette's own answers (404, 405 with its Allow header) in the error shape."""
        response = error_response(f"http_{error.status_code}", str(error.detail), error.status_code, request.url.path)
        response.headers.update(error.headers or {})
        if error.status_code == 405 and (methods := allowed_methods(routes, request.scope)):
            response.headers["allow"] = ", ".join(methods)
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, _error: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response("internal_error", "an unexpected error happened; see the server log", 500)


def add_body_error_handlers(app: Starlette) -> None:
    """The 413 and 408 of the body limit in the error shape, closing the connection. The MCP server's own
    Starlette app needs them too: it reads its bodies inside its own exception handling."""

    async def body_refused(request: Request, error: Exception) -> Response:
        assert isinstance(error, BodyRefused)
        return error.response(request.url.path)

    app.add_exception_handler(BodyRefused, body_refused)


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """Every method the routes of the request's path take (Starlette's 405 names only the first route's:
    `GET` for `/v1/jobs/{job_id}`, which also takes `DELETE`)."""
    matching = [route for route in routes if route.matches(scope)[0] != Match.NONE]
    return sorted({method for route in matching for method in getattr(route, "methods", None) or ()})


def problems(errors: Sequence[Any]) -> str:
    """`field.path: what is wrong` for each validation error, without the `body` prefix."""
    return "; ".join(f"{_field(e)}: {_problem(e)}" for e in errors)


def _field(error: Mapping[str, Any]) -> str:
    return ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"


def _problem(error: Mapping[str, Any]) -> str:
    """Pydantic's message, or for a field the body does not have, that it has none and where a misplaced one goes."""
    if error.get("type") != "extra_forbidden":
        return str(error.get("msg"))
    where = MISPLACED_FIELDS.get(_field(error))
    return f"not a field of this body; send it as {where}" if where else "not a field of this body"
