"""The chat page's GitHub sign-in at the edge: the session cookie, and the CSRF check of what it authorizes.

A request that sends no key but a session cookie authenticates with the session's GitHub token, as
if it had sent the token itself. The cookie is `HttpOnly` (no script reads it), `SameSite=Lax` (other
sites' pages cannot send it with their requests, bar top-level links) and `Secure` when the request
came over TLS (`https`, or `X-Forwarded-Proto: https` from a proxy uvicorn trusts: FORWARDED_ALLOW_IPS).
SameSite does not separate the sites of one registrable domain (or another port of the same host),
so a state-changing request made with the cookie must also come from a page of the server itself:
its `Origin` names the host it addresses. Browsers send `Origin` with every such request.
"""

from collections.abc import Mapping
from urllib.parse import urlsplit

from fastapi import Request, Response
from starlette.requests import cookie_parser

from application.sessions import FindSession
from entrypoints.http.errors import AuthError

SESSION_COOKIE = "repochat_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def session_id(headers: Mapping[str, str]) -> str:
    """The session id the request's cookie carries; "" without one."""
    return cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE, "")


def check_same_origin(headers: Mapping[str, str], method: str) -> None:
    """403 for a state-changing request whose Origin is missing or another host than the one it addresses."""
    if method.upper() in SAFE_METHODS:
        return
    origin = headers.get("origin", "")
    host = headers.get("host", "").lower()
    if not origin or urlsplit(origin).netloc.lower() != host:
        message = "a request signed in with the session cookie must come from the chat page of this server (Origin)"
        raise AuthError(403, message, "cross_origin_session")


async def session_token(headers: Mapping[str, str], method: str, find_session: FindSession) -> str | None:
    """The GitHub token of the request's session: None without a cookie, or when its session ended;
    AuthError (403) for a state-changing request from a page of another origin."""
    found = session_id(headers)
    if not found:
        return None
    check_same_origin(headers, method)
    session = await find_session.execute(found)
    return session.token if session is not None else None


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int, path: str = "/") -> None:
    """A cookie no script reads, sent by other sites' pages only on top-level links, over TLS only when
    the request came over TLS."""
    secure = request.url.scheme == "https"
    response.set_cookie(name, value, max_age=max_age, path=path, secure=secure, httponly=True, samesite="lax")


def clear_cookie(response: Response, request: Request, name: str, path: str = "/") -> None:
    secure = request.url.scheme == "https"
    response.delete_cookie(name, path=path, secure=secure, httponly=True, samesite="lax")
