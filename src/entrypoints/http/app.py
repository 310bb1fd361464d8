"""The HTTP API (FastAPI): the /v1 routes of `routers/`, health, readiness and metrics, the MCP server
at /mcp and the chat page at /.

Routes receive the use cases they call from the container, through dependency-injector's wiring
(`@inject` with `Provide[Container.x]`), and declare what they answer: a response model for success
and `ErrorResponse` for each error status they can give, so /openapi.json tells the truth about every
body the app sends.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from mcp.server.transport_security import TransportSecuritySettings
from starlette.routing import Route

from entrypoints.container import Container, running
from entrypoints.http import security
from entrypoints.http.errors import add_body_error_handlers, add_error_handlers
from entrypoints.http.middleware import MCP_PATH, add_middleware
from entrypoints.http.routers import answers, auth, jobs, keys, openai, operations, repositories, search, webhooks
from entrypoints.mcp_server import create_mcp_server

MCP_METHODS = ["GET", "POST", "DELETE"]
PORTS = (":*", "")
"""An origin's host with any port, or none."""
ROUTERS = (repositories, jobs, search, answers, openai, keys, webhooks, operations, auth)
"""The modules of the routes, in the order /openapi.json lists them; each is wired to the container."""
ANY_HOST_FOR_MCP = TransportSecuritySettings(enable_dns_rebinding_protection=False)
"""The MCP SDK's own Host and Origin check is off: the app's (AllowedHosts) checks /mcp as every route,
and knows when keys decide instead (keys stored while the server runs too)."""
WEB = Path(__file__).parent.parent / "web"
"""The chat page: static files, no build step, no API key to load."""


def create_app(container: Container) -> FastAPI:
    settings = container.settings()
    metrics = container.metrics()
    mcp = create_mcp_server(
        container.mcp_tools(), read_only=settings.mcp_read_only, not_allowed=metrics.count_not_allowed
    )
    mcp_app = mcp.streamable_http_app(
        streamable_http_path=MCP_PATH, stateless_http=True, transport_security=ANY_HOST_FOR_MCP
    )
    add_body_error_handlers(mcp_app)

    async def keyed() -> bool:
        return await container.identify_caller().needs_credentials()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with running(container, run_schedule=True), mcp.session_manager.run():
            yield

    container.wire(modules=list(ROUTERS))
    app = FastAPI(title="repochat", version="0.1.0", lifespan=lifespan)
    app.state.delivery_reads = asyncio.Semaphore(webhooks.READS_AT_ONCE)
    for module in ROUTERS:
        app.include_router(module.router)
    app.router.routes.append(Route(MCP_PATH, mcp_app, methods=MCP_METHODS))
    app.mount("/static", StaticFiles(directory=WEB), name="static")
    app.add_api_route("/", lambda: FileResponse(WEB / "index.html"), include_in_schema=False)
    add_error_handlers(app, [route for module in ROUTERS for route in module.router.routes], metrics.count_not_allowed)
    caller = security.RequestCaller(container.identify_caller, container.find_session, metrics)
    add_middleware(app, settings.max_body_bytes, metrics, settings.allowed_host_names, keyed, caller)
    return app
