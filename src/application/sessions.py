"""Signing in with GitHub on the chat page: a session per browser, opened with the user's own token.

The session's token is what its requests authenticate with (`IdentifyCaller`, as a bearer token),
so a signed-in browser sees exactly what a GitHub token of that user would.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from application.clock import Clock, utc_now
from application.ports.access import GitHubPermissions
from application.ports.sessions import GitHubSignIn, Session, SessionStore
from domain.errors import AccessDenied

SESSION_LIFETIME = timedelta(hours=12)
"""A sign-in lasts this long; then the page asks to sign in again."""


@dataclass(frozen=True)
class SignInStart:
    state: str
    """A random value the browser keeps (a cookie) and GitHub sends back: the callback is this browser's."""
    url: str


class StartSignIn:
    def __init__(self, github: GitHubSignIn) -> None:
        self._github = github

    async def execute(self) -> SignInStart:
        state = secrets.token_urlsafe(24)
        return SignInStart(state, self._github.authorize_url(state))


@dataclass(frozen=True)
class SignedIn:
    session_id: str
    login: str
    expires_at: datetime


class SignIn:
    """A callback's code exchanged for the user's token, the token checked with GitHub, a session opened."""

    def __init__(
        self,
        github: GitHubSignIn,
        permissions: GitHubPermissions,
        sessions: SessionStore,
        now: Clock = utc_now,
    ) -> None:
        self._github = github
        self._permissions = permissions
        self._sessions = sessions
        self._now = now

    async def execute(self, code: str) -> SignedIn:
        token = await self._github.exchange(code)
        user = await self._permissions.user(token)
        if user is None:
            raise AccessDenied("GitHub does not accept the token it gave for this sign-in: sign in again")
        session_id = secrets.token_urlsafe(32)
        now = self._now()
        expires_at = now + SESSION_LIFETIME
        await self._sessions.open(session_id, Session(user.login, token), expires_at, now)
        return SignedIn(session_id, user.login, expires_at)


class FindSession:
    """The live session a cookie names, or None."""

    def __init__(self, sessions: SessionStore, now: Clock = utc_now) -> None:
        self._sessions = sessions
        self._now = now

    async def execute(self, session_id: str) -> Session | None:
        return await self._sessions.find(session_id, self._now()) if session_id else None


class SignOut:
    def __init__(self, sessions: SessionStore) -> None:
        self._sessions = sessions

    async def execute(self, session_id: str) -> None:
        if session_id:
            await self._sessions.close(session_id)
