"""/auth: the chat page's sign-in with GitHub (the OAuth web flow), its session, and the sign-out.

Browser navigations, not API calls: out of /openapi.json, and without the API key of /v1. Routes
evaluate their annotations at import (no `from __future__ import annotations`): dependency-injector
finds the `Provide` markers in the `Annotated` types of the live signatures.
"""

import secrets
from typing import Annotated

from dependency_injector.wiring import Provide, inject
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

from application.sessions import SESSION_LIFETIME, FindSession, SignIn, SignOut, StartSignIn
from domain.errors import InvalidInput, NotFound
from entrypoints.container import Container
from entrypoints.http.sessions import SESSION_COOKIE, check_same_origin, clear_cookie, session_id, set_cookie
from entrypoints.settings import Settings

STATE_COOKIE = "repochat_oauth_state"
STATE_SECONDS = 600
"""A sign-in is finished at GitHub within this time, or started again."""
CALLBACK_PATH = "/auth/github/callback"

router = APIRouter(prefix="/auth", include_in_schema=False)


class SignInStatus(BaseModel):
    github_sign_in: bool
    """The page offers "Sign in with GitHub"."""
    login: str | None
    """The GitHub user this browser is signed in as."""


@inject
async def _sign_in_offered(settings: Annotated[Settings, Depends(Provide[Container.settings])]) -> None:
    """The GitHub routes' dependency: they are not found while no OAuth app is configured."""
    if settings.github_sign_in is None:
        raise NotFound(
            "GitHub sign-in is off: set REPOCHAT_GITHUB_OAUTH_CLIENT_ID and REPOCHAT_GITHUB_OAUTH_CLIENT_SECRET"
        )


SIGN_IN_OFFERED = [Depends(_sign_in_offered)]


@router.get("/github/login", dependencies=SIGN_IN_OFFERED)
@inject
async def github_login(
    request: Request, start: Annotated[StartSignIn, Depends(Provide[Container.start_sign_in])]
) -> Response:
    """To GitHub, which asks the user to let repochat read its repositories, then comes back to the callback."""
    started = await start.execute()
    response = RedirectResponse(started.url, 302)
    set_cookie(response, request, STATE_COOKIE, started.state, STATE_SECONDS, path=CALLBACK_PATH)
    return response


@router.get("/github/callback", dependencies=SIGN_IN_OFFERED)
@inject
async def github_callback(
    request: Request,
    sign_in: Annotated[SignIn, Depends(Provide[Container.sign_in])],
    code: str = "",
    state: str = "",
    error: str = "",
) -> Response:
    """GitHub's redirect back: the state must be this browser's, the code is exchanged, a session opened."""
    expected = request.cookies.get(STATE_COOKIE, "")
    if error or not code:
        raise InvalidInput(f"GitHub did not sign you in ({error or 'no code'}): start again at /auth/github/login")
    if not expected or not secrets.compare_digest(state.encode(), expected.encode()):
        raise InvalidInput("this sign-in was not started by this browser, or took too long: start again at /")
    signed_in = await sign_in.execute(code)
    response = RedirectResponse("/", 303)
    set_cookie(response, request, SESSION_COOKIE, signed_in.session_id, int(SESSION_LIFETIME.total_seconds()))
    clear_cookie(response, request, STATE_COOKIE, path=CALLBACK_PATH)
    return response


@router.get("/session", response_model=SignInStatus)
@inject
async def session(
    request: Request,
    settings: Annotated[Settings, Depends(Provide[Container.settings])],
    find_session: Annotated[FindSession, Depends(Provide[Container.find_session])],
) -> SignInStatus:
    """What the page shows: whether it offers GitHub sign-in, and who is signed in."""
    found = await find_session.execute(session_id(request.headers)) if settings.github_sign_in else None
    return SignInStatus(github_sign_in=settings.github_sign_in is not None, login=found.login if found else None)


@router.post("/logout", status_code=204)
@inject
async def logout(request: Request, sign_out: Annotated[SignOut, Depends(Provide[Container.sign_out])]) -> Response:
    """Ends this browser's session on every replica, and drops its cookie."""
    found = session_id(request.headers)
    if found:
        check_same_origin(request.headers, request.method)
        await sign_out.execute(found)
    response = Response(status_code=204)
    clear_cookie(response, request, SESSION_COOKIE)
    return response
