"""API keys: every /v1 call (and /mcp) needs one of REPOCHAT_API_KEYS when the server sets them.

This module evaluates its annotations at import (no `from __future__ import annotations`):
dependency-injector finds the `Provide` markers in the `Annotated` types of the live signatures.
"""

import secrets
from collections.abc import Mapping
from typing import Annotated

from dependency_injector.wiring import Provide, inject
from fastapi import APIRouter, Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from entrypoints.container import Container
from entrypoints.http.errors import V1_ERRORS, AuthError, error_response, error_responses
from entrypoints.http.schemas import single_query_values
from entrypoints.settings import Settings

KEY_HELP = "One of REPOCHAT_API_KEYS, when the server sets them (else no key is needed)"
bearer_key = HTTPBearer(auto_error=False, description=KEY_HELP)
header_key = APIKeyHeader(name="X-API-Key", auto_error=False, description=KEY_HELP)


def check_api_key(headers: Mapping[str, str], accepted: frozenset[str]) -> None:
    """With API keys configured, a request needs `Authorization: Bearer <key>` or `X-API-Key: <key>`, and
    every key it sends must be accepted: a wrong or malformed one is refused even beside a good one."""
    if not accepted:
        return
    keys = [key for key in (_bearer_key(headers), headers.get("x-api-key", "")) if key]
    if not keys:
        raise AuthError(401, "missing API key: send Authorization: Bearer <key>")
    if not all(any(secrets.compare_digest(key, candidate) for candidate in accepted) for key in keys):
        raise AuthError(403, "this API key is not accepted")


def _bearer_key(headers: Mapping[str, str]) -> str:
    """The key of `Authorization: Bearer <key>`; "" without the header; a 401 for another scheme."""
    if "authorization" not in headers:
        return ""
    scheme, _, key = headers["authorization"].partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise AuthError(401, "the Authorization header is not `Bearer <key>`: send Authorization: Bearer <key>")
    return key.strip()


@inject
async def require_api_key(
    request: Request,
    settings: Annotated[Settings, Depends(Provide[Container.settings])],
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_key)],
    _header: Annotated[str | None, Security(header_key)],
) -> None:
    """The two security schemes declare the key's two places in OpenAPI (so /docs can send a key);
    check_api_key reads them, and refuses with repochat's error bodies."""
    check_api_key(request.headers, settings.accepted_api_keys)


def v1_router() -> APIRouter:
    """A router of /v1 routes: behind the API keys, each query parameter once, declaring the error statuses
    every /v1 call can give."""
    dependencies = [Depends(require_api_key), Depends(single_query_values)]
    return APIRouter(prefix="/v1", dependencies=dependencies, responses=error_responses(*V1_ERRORS))


class KeyedApp:
    """An ASGI app behind the API keys of /v1, refusing without a key as /v1 does."""

    def __init__(self, app: ASGIApp, accepted: frozenset[str]) -> None:
        self._app = app
        self._accepted = accepted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            check_api_key(Headers(scope=scope), self._accepted)
        except AuthError as e:
            await error_response(e.code, e.message, e.status)(scope, receive, send)
            return
        await self._app(scope, receive, send)
