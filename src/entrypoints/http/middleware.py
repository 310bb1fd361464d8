"""The app's middleware, innermost first: the body limit; who calls (a /v1 route or /mcp); the host
and origin check (without API keys); the security headers of every answer; the request timing of the
metrics and the request log (outermost, so it counts and logs every answer, a 413 or a 421 too)."""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.access import Caller
from domain.errors import RepochatError
from entrypoints.http.asgi import HttpMiddleware
from entrypoints.http.caller_state import remember_caller
from entrypoints.http.errors import (
    BODY_IDLE_SECONDS,
    BODY_SECONDS,
    AuthError,
    BodyTooLarge,
    BodyTooSlow,
    closing,
    error_response,
    status_of,
)
from entrypoints.metrics import Metrics, TimedRequests

MCP_PATH = "/mcp"
WEBHOOK_PATH = "/v1/webhooks/github"
WEBHOOK_MAX_BODY_BYTES = 25 * 1024 * 1024
"""GitHub caps webhook payloads at 25 MB: deliveries may be larger than REPOCHAT_MAX_BODY_BYTES."""


LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
PROBES = frozenset({"/healthz", "/readyz"})
"""Answered whatever the Host: probes address a replica by its IP, and neither says anything secret."""
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""The chat page and its assets: its own files only, no inline script, never framed."""
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
SWAGGER_POLICY = "frame-ancestors 'none'"
"""/docs and /redoc load FastAPI's Swagger UI and ReDoc, inline script and CDN files included."""


def add_middleware(
    app: FastAPI,
    max_body_bytes: int,
    metrics: Metrics,
    hosts: frozenset[str] | None,
    keyed: Callable[[], Awaitable[bool]],
    caller: Callable[[Scope], Awaitable[Caller]],
) -> None:
    """`hosts`: the names requests may address when the server has no API keys (None: any); `keyed`: whether
    it has some (stored keys come and go while it runs); `caller`: who sends a request (or AuthError)."""
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, own_limits={WEBHOOK_PATH: WEBHOOK_MAX_BODY_BYTES})
    app.add_middleware(IdentifiedCallers, caller=caller)
    if hosts is not None:
        app.add_middleware(AllowedHosts, hosts=hosts, keyed=keyed)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(TimedRequests, metrics=metrics)  # the outermost middleware: it counts every answer


class IdentifiedCallers(HttpMiddleware):
    """Identifies the caller of every /v1 request (but GitHub's deliveries, which their signature
    identifies) and of /mcp, and leaves it in the request's state (`caller_state`); answers 401 or 403
    when the key is missing or not accepted.

    It runs before the body limit, so a request refused here is answered before any of its body is read:
    a caller without a key costs the server neither the reading nor the parsing of a body."""

    def __init__(self, app: ASGIApp, caller: Callable[[Scope], Awaitable[Caller]]) -> None:
        super().__init__(app)
        self._caller = caller

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if identified_path(scope["path"]):
            try:
                remember_caller(scope, await self._caller(scope))
            except AuthError as e:
                await self._refuse(scope, e.code, e.message, e.status)(scope, receive, send)
                return
            except RepochatError as e:  # the keys or GitHub could not be read: 503, 429
                await self._refuse(scope, e.code, e.message, status_of(e))(scope, receive, send)
                return
        await self._app(scope, receive, send)

    @staticmethod
    def _refuse(scope: Scope, code: str, message: str, status: int) -> JSONResponse:
        """The error, closing the connection when a body is on its way: nothing will read it."""
        response = error_response(code, message, status, scope["path"])
        headers = Headers(scope=scope)
        has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
        return closing(response) if has_body else response


def identified_path(path: str) -> bool:
    return path == MCP_PATH or (path.startswith("/v1/") and path != WEBHOOK_PATH)


class AllowedHosts(HttpMiddleware):
    """Answers only requests addressed to one of `hosts` (Host) and, when a browser sends them, from a
    page of one of them (Origin): 421 and 403 otherwise.

    Without API keys anyone who can reach the server may use it, which on a laptop means the programs
    of its user. A web page the user visits can reach it too, by DNS rebinding (its own name made to
    point at 127.0.0.1): the browser then sends that name as Host, so checking Host keeps such pages out.
    Once the server has keys (`keyed`), the key decides and any host is answered; when the keys cannot be
    read, the hosts are checked still.
    """

    def __init__(self, app: ASGIApp, hosts: frozenset[str], keyed: Callable[[], Awaitable[bool]]) -> None:
        super().__init__(app)
        self._hosts = hosts
        self._keyed = keyed

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] in PROBES or await self._has_keys():
            await self._app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        origin = headers.get("origin")
        if host_name(host) not in self._hosts:
            message = (
                f"this server answers requests addressed to {sorted(self._hosts)} only, not {host!r}: "
                "add the name to REPOCHAT_ALLOWED_HOSTS, or set REPOCHAT_API_KEYS"
            )
            await error_response("misdirected_request", message, 421, scope["path"])(scope, receive, send)
        elif origin is not None and host_name(urlsplit(origin).netloc) not in self._hosts:
            message = f"requests from pages of {origin!r} are not accepted: add its name to REPOCHAT_ALLOWED_HOSTS"
            await error_response("forbidden_origin", message, 403, scope["path"])(scope, receive, send)
        else:
            await self._app(scope, receive, send)

    async def _has_keys(self) -> bool:
        try:
            return await self._keyed()
        except RepochatError:
            return False


def host_name(authority: str) -> str:
    """The lower-case name of a `host[:port]` (brackets of an IPv6 address dropped); "" when it is not one."""
    try:
        return (urlsplit(f"//{authority}").hostname or "").rstrip(".")
    except ValueError:
        return ""


class SecurityHeaders(HttpMiddleware):
    """Every answer: no MIME sniffing, no referrer, never framed; a Content-Security-Policy fitting it."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        policy = content_policy(scope["path"])

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["content-security-policy"] = policy
                headers["x-content-type-options"] = "nosniff"
                headers["referrer-policy"] = "no-referrer"
                headers["x-frame-options"] = "DENY"
            await send(message)

        await self._app(scope, receive, with_headers)


def content_policy(path: str) -> str:
    if path == "/" or path.startswith("/static/"):
        return PAGE_POLICY
    if path.startswith(("/docs", "/redoc")):
        return SWAGGER_POLICY
    return API_POLICY


class BodyLimit(HttpMiddleware):
    """Refuses a request body over `max_bytes` (REPOCHAT_MAX_BODY_BYTES; a route of `own_limits` its own)
    with a 413: at once when Content-Length says so, else once the bytes the app has read pass the limit;
    and a body that stops arriving for BODY_IDLE_SECONDS, or is not whole within BODY_SECONDS, with a 408.

    Nothing is read here: the bytes are counted as the app reads them, so a body that no route reads (an
    unknown path, a refused caller's) is never held in memory, and a route that reads its body as it
    arrives (GitHub's webhook deliveries, up to 25 MB) keeps no more of it than it chooses to."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        own_limits: Mapping[str, int],
        idle_seconds: float = BODY_IDLE_SECONDS,
        whole_seconds: float = BODY_SECONDS,
    ) -> None:
        super().__init__(app)
        self._max_bytes = max_bytes
        self._own_limits = own_limits
        self._idle_seconds = idle_seconds
        self._whole_seconds = whole_seconds

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        own_limit = scope["path"] in self._own_limits
        limit = self._own_limits[scope["path"]] if own_limit else self._max_bytes
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await BodyTooLarge(limit, own_limit).response(scope["path"])(scope, receive, send)
            return
        received, whole = 0, False
        deadline = asyncio.get_running_loop().time() + self._whole_seconds

        async def counted() -> Message:
            nonlocal received, whole
            if whole:  # what follows the body (a disconnect) may take as long as the answer does
                return await receive()
            try:
                async with asyncio.timeout_at(min(deadline, asyncio.get_running_loop().time() + self._idle_seconds)):
                    message = await receive()
            except TimeoutError:
                raise BodyTooSlow() from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                whole = not message.get("more_body", False)
                if received > limit:
                    raise BodyTooLarge(limit, own_limit)
            return message

        await self._app(scope, counted, send)
