"""The app's middleware: the body limit, and the request timing of the metrics (outermost, so it
counts every answer, a 413 too)."""

from collections.abc import Mapping

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.http.errors import error_response
from entrypoints.metrics import Metrics, TimedRequests

WEBHOOK_PATH = "/v1/webhooks/github"
WEBHOOK_MAX_BODY_BYTES = 25 * 1024 * 1024
"""GitHub caps webhook payloads at 25 MB: deliveries may be larger than REPOCHAT_MAX_BODY_BYTES."""


def add_middleware(app: FastAPI, max_body_bytes: int, metrics: Metrics) -> None:
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, streamed={WEBHOOK_PATH: WEBHOOK_MAX_BODY_BYTES})
    app.add_middleware(TimedRequests, metrics=metrics)  # the outermost middleware: it counts every answer


class BodyLimit:
    """Refuses a request body over `max_bytes` (REPOCHAT_MAX_BODY_BYTES) with a 413 before the app reads
    any of it: at once when Content-Length says so, else once the bytes received pass the limit.

    The routes of `streamed` read their own body as it arrives, under their own limit (GitHub's
    webhook deliveries, up to 25 MB): their body is refused here only when Content-Length is over that
    limit, and otherwise passed on unread, so that no body waits in memory before its route looks at it."""

    def __init__(self, app: ASGIApp, max_bytes: int, streamed: Mapping[str, int]) -> None:
        self._app = app
        self._max_bytes = max_bytes
        self._streamed = streamed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        streamed = scope["path"] in self._streamed
        limit = self._streamed[scope["path"]] if streamed else self._max_bytes
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await too_large(limit, streamed, scope["path"])(scope, receive, send)
            return
        if streamed:
            await self._app(scope, receive, send)
            return
        received = await self._read(receive, limit)
        if received is None:
            await too_large(limit, streamed, scope["path"])(scope, receive, send)
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


def too_large(limit: int, own_limit: bool, path: str) -> JSONResponse:
    """The 413 of a body over `limit`: REPOCHAT_MAX_BODY_BYTES, or a route's own limit."""
    setting = "" if own_limit else " (REPOCHAT_MAX_BODY_BYTES)"
    message = f"the request body is over the limit of {limit} bytes{setting}"
    return error_response("request_too_large", message, 413, path)
