"""Signing in with GitHub: a code for a token, the token checked, a session of a random id; and its end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from application.ports.sessions import Session
from application.sessions import SESSION_LIFETIME, FindSession, SignIn, SignOut, StartSignIn
from domain.errors import AccessDenied
from tests.unit.fakes import InMemorySessionStore, ScriptedGitHubPermissions, ScriptedSignIn

NOW = datetime(2025, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


async def test_a_code_opens_a_session_of_the_users_token_under_a_random_id() -> None:
    sessions = InMemorySessionStore()
    sign_in = SignIn(
        ScriptedSignIn({"c1": "gho_alice"}), ScriptedGitHubPermissions({"gho_alice": "alice"}), sessions, Clock()
    )

    first = await sign_in.execute("c1")
    assert (first.login, first.expires_at) == ("alice", NOW + SESSION_LIFETIME)
    assert sessions.sessions[first.session_id] == (Session("alice", "gho_alice"), NOW + SESSION_LIFETIME)
    assert len(first.session_id) >= 43, "256 random bits"

    sign_in_again = SignIn(
        ScriptedSignIn({"c2": "gho_alice"}), ScriptedGitHubPermissions({"gho_alice": "alice"}), sessions, Clock()
    )
    assert (await sign_in_again.execute("c2")).session_id != first.session_id


async def test_a_refused_code_or_a_token_github_does_not_take_opens_nothing() -> None:
    sessions = InMemorySessionStore()
    github = ScriptedSignIn({"c1": "gho_unknown"})
    sign_in = SignIn(github, ScriptedGitHubPermissions({}), sessions, Clock())
    with pytest.raises(AccessDenied, match="bad_verification_code"):
        await sign_in.execute("wrong")
    with pytest.raises(AccessDenied, match="does not accept the token"):
        await sign_in.execute("c1")
    assert sessions.sessions == {}


async def test_a_session_is_found_until_it_expires_or_is_signed_out() -> None:
    sessions = InMemorySessionStore()
    clock = Clock()
    signed = await SignIn(
        ScriptedSignIn({"c": "gho_bob"}), ScriptedGitHubPermissions({"gho_bob": "bob"}), sessions, clock
    ).execute("c")
    find = FindSession(sessions, clock)

    assert await find.execute(signed.session_id) == Session("bob", "gho_bob")
    assert await find.execute("") is None
    assert await find.execute("not-a-session") is None
    clock.now += SESSION_LIFETIME - timedelta(seconds=1)
    assert await find.execute(signed.session_id) is not None
    await SignOut(sessions).execute(signed.session_id)
    assert await find.execute(signed.session_id) is None


async def test_each_sign_in_starts_with_a_new_state_in_the_url() -> None:
    start = StartSignIn(ScriptedSignIn({}))
    first, second = await start.execute(), await start.execute()
    assert first.state != second.state
    assert first.url.endswith(f"state={first.state}")
