"""What the app's middleware share: pure ASGI, HTTP requests only."""

from abc import ABC, abstractmethod

from starlette.types import ASGIApp, Receive, Scope, Send


class HttpMiddleware(ABC):
    """Pure ASGI middleware (not Starlette's `BaseHTTPMiddleware`, whose `call_next` returns at the first
    byte of the answer): `handle` sees each HTTP request; other scopes (the lifespan) pass through."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.handle(scope, receive, send)
        else:
            await self._app(scope, receive, send)

    @abstractmethod
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None: ...
