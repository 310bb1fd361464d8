"""Who is calling: every /v1 call (and /mcp) is identified by its key, when the server has keys.

A key is sent as `Authorization: Bearer <key>` or `X-API-Key: <key>` (both may be sent, naming the
same key). `IdentifyCaller` says whose it is (one of REPOCHAT_API_KEYS, an admin; a key of `repochat
keys create`) and the caller it acts as is left in the request's state (`caller_state`), where
routes (through `current_caller`), the MCP tools and the request log find it. Without keys the
caller is anonymous and may do everything, as on a laptop.

The caller is identified by a middleware (`middleware.IdentifiedCallers`, with `RequestCaller`), before
the app reads the request's body: a caller without a key costs neither the reading nor the parsing of one.
"""

from collections.abc import Callable, Mapping
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers
from starlette.types import Scope

from application.access import IdentifyCaller
from application.sessions import FindSession
from domain.access import Caller
from entrypoints.http.caller_state import caller_in
from entrypoints.http.errors import V1_ERRORS, AuthError, error_responses
from entrypoints.http.schemas import single_query_values
from entrypoints.http.sessions import session_token
from entrypoints.metrics import Metrics

KEY_HELP = (
    "An API key (`repochat keys create`, or one of REPOCHAT_API_KEYS), when the server has keys (else none is needed)"
)
bearer_key = HTTPBearer(auto_error=False, description=KEY_HELP)
header_key = APIKeyHeader(name="X-API-Key", auto_error=False, description=KEY_HELP)


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key of `Authorization: Bearer <key>` or `X-API-Key: <key>`; a 403 when the two name different keys."""
    keys = {key for key in (_bearer_key(headers), headers.get("x-api-key", "").strip()) if key}
    if len(keys) > 1:
        raise AuthError(403, "Authorization and X-API-Key name different keys: send one key", "conflicting_keys")
    return keys.pop() if keys else None


def _bearer_key(headers: Mapping[str, str]) -> str:
    """The key of `Authorization: Bearer <key>`; "" without the header; a 401 for another scheme."""
    if "authorization" not in headers:
        return ""
    scheme, _, key = headers["authorization"].partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        message = "the Authorization header is not `Bearer <key>`: send Authorization: Bearer <key>"
        raise AuthError(401, message, "malformed_credentials")
    return key.strip()


async def identified(
    headers: Mapping[str, str], method: str, identify: IdentifyCaller, sessions: FindSession, metrics: Metrics
) -> Caller:
    """The caller the request's key names (without one, the GitHub token of its sign-in session); AuthError
    (401 without a key when one is needed, 403 for a key that is not accepted), each refusal counted by its
    reason."""
    try:
        return await _caller(headers, method, identify, sessions)
    except AuthError as e:
        metrics.count_denial(e.reason)
        raise


async def _caller(headers: Mapping[str, str], method: str, identify: IdentifyCaller, sessions: FindSession) -> Caller:
    """A server without keys looks at no header (another scheme of Authorization, for a proxy, included); a
    request without a key is its sign-in session's, when it has one."""
    needed = await identify.needs_credentials()
    key = (presented_key(headers) or await session_token(headers, method, sessions)) if needed else None
    caller = await identify.execute(key)
    if caller is None and key is None:
        raise AuthError(401, "missing API key: send Authorization: Bearer <key>", "missing_credentials")
    if caller is None:
        raise AuthError(403, "this API key is not accepted", "unknown_key")
    return caller


async def current_caller(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_key)],
    _header: Annotated[str | None, Security(header_key)],
) -> Caller:
    """The request's caller, as `IdentifiedCallers` left it in the request's state before the body was read.
    The two security schemes declare the key's two places in OpenAPI (so /docs can send a key)."""
    caller = caller_in(request.scope)
    if caller is None:
        raise RuntimeError(f"{request.url.path} is not among the paths IdentifiedCallers identifies")
    return caller


CurrentCaller = Annotated[Caller, Depends(current_caller)]
"""A route's parameter: the caller its use cases act for."""


def v1_router() -> APIRouter:
    """A router of /v1 routes: each call identified, each query parameter once, declaring the error statuses
    every /v1 call can give."""
    dependencies = [Depends(current_caller), Depends(single_query_values)]
    return APIRouter(prefix="/v1", dependencies=dependencies, responses=error_responses(*V1_ERRORS))


class RequestCaller:
    """Who sends a request (`identified`), for `IdentifiedCallers`.

    It takes the container's providers of what identifies a caller, not their objects: they open the stores,
    which belongs to the app's lifespan, not to its creation."""

    def __init__(
        self, identify: Callable[[], IdentifyCaller], sessions: Callable[[], FindSession], metrics: Metrics
    ) -> None:
        self._identify = identify
        self._sessions = sessions
        self._metrics = metrics

    async def __call__(self, scope: Scope) -> Caller:
        headers = Headers(scope=scope)
        return await identified(headers, scope["method"], self._identify(), self._sessions(), self._metrics)
