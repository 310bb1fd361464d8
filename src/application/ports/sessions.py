"""Ports of the sign-in with GitHub: the OAuth web flow, and the sessions it opens."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Session:
    """A signed-in browser: the GitHub user and its token (what the session's requests authenticate with)."""

    login: str
    token: str = field(repr=False)


class GitHubSignIn(Protocol):
    """GitHub's OAuth web flow for an OAuth app."""

    def authorize_url(self, state: str) -> str:
        """Where to send the browser: GitHub asks the user to let the app read its repositories, then
        returns to the app's callback URL with a code and `state`."""
        ...

    async def exchange(self, code: str) -> str:
        """The user's token for a callback's code; AccessDenied when GitHub refuses the code."""
        ...


class SessionStore(Protocol):
    """The sessions every API replica sees, each known by a random id only the browser's cookie holds."""

    async def open(self, session_id: str, session: Session, expires_at: datetime, now: datetime) -> None:
        """Keep a session (and forget those expired by `now`)."""
        ...

    async def find(self, session_id: str, now: datetime) -> Session | None:
        """The session of that id while it has not expired; None otherwise."""
        ...

    async def close(self, session_id: str) -> None:
        """Forget the session; nothing happens when there is none."""
        ...
