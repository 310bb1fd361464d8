"""/auth: GitHub sign-in's redirects, its session cookie and its flags, the CSRF check, the sign-out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.datastructures import Headers

from application.ports.sessions import Session
from application.sessions import FindSession
from entrypoints.http.app import create_app
from entrypoints.http.errors import AuthError
from entrypoints.http.sessions import SESSION_COOKIE, session_token
from tests.unit.fakes import InMemorySessionStore, ScriptedGitHubPermissions, ScriptedSignIn
from tests.unit.http.helpers import container_of, settings, use

ORIGIN = "http://repochat"


@pytest.fixture
def sessions() -> InMemorySessionStore:
    return InMemorySessionStore()


async def client_of(
    tmp_path: Path, sessions: InMemorySessionStore, base_url: str, **values: object
) -> httpx.AsyncClient:
    container = container_of(settings(data_dir=tmp_path, **values))
    use(container.github_sign_in, ScriptedSignIn({"good-code": "gho_alice"}))
    use(container.github_permissions, ScriptedGitHubPermissions({"gho_alice": "alice"}))
    use(container.sessions, sessions)
    transport = httpx.ASGITransport(app=create_app(container), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=base_url)


SIGN_IN = {"github_permissions": True, "github_oauth_client_id": "Iv1.app", "github_oauth_client_secret": "s3cret"}


@pytest.fixture
async def client(tmp_path: Path, sessions: InMemorySessionStore) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_of(tmp_path, sessions, ORIGIN, **SIGN_IN) as http:
        yield http


def cookie_of(response: httpx.Response, name: str) -> SimpleCookie:
    cookies = [SimpleCookie(value) for value in response.headers.get_list("set-cookie")]
    found = [cookie for cookie in cookies if name in cookie]
    assert len(found) == 1, response.headers.get_list("set-cookie")
    return found[0]


async def signed_in(client: httpx.AsyncClient) -> str:
    """The session id of a sign-in through the two redirects."""
    login = await client.get("/auth/github/login")
    state = parse_qs(urlsplit(login.headers["location"]).query)["state"][0]
    callback = await client.get("/auth/github/callback", params={"code": "good-code", "state": state})
    assert callback.status_code == 303, callback.text
    return cookie_of(callback, SESSION_COOKIE)[SESSION_COOKIE].value


async def test_sign_in_goes_to_github_with_a_state_kept_in_a_cookie_for_the_callback(
    client: httpx.AsyncClient,
) -> None:
    login = await client.get("/auth/github/login")
    assert login.status_code == 302
    state = parse_qs(urlsplit(login.headers["location"]).query)["state"][0]
    cookie = cookie_of(login, "repochat_oauth_state")["repochat_oauth_state"]
    assert cookie.value == state
    assert (cookie["httponly"], cookie["samesite"], cookie["path"], cookie["secure"]) == (
        True, "lax", "/auth/github/callback", "",
    )  # fmt: skip


async def test_the_callback_opens_a_session_whose_cookie_is_httponly_and_lax(
    client: httpx.AsyncClient, sessions: InMemorySessionStore
) -> None:
    login = await client.get("/auth/github/login")
    state = parse_qs(urlsplit(login.headers["location"]).query)["state"][0]
    callback = await client.get("/auth/github/callback", params={"code": "good-code", "state": state})

    assert (callback.status_code, callback.headers["location"]) == (303, "/")
    cookie = cookie_of(callback, SESSION_COOKIE)[SESSION_COOKIE]
    assert (cookie["httponly"], cookie["samesite"], cookie["path"], cookie["secure"]) == (True, "lax", "/", "")
    assert int(cookie["max-age"]) == 12 * 3600
    assert sessions.sessions[cookie.value][0] == Session("alice", "gho_alice")
    assert "gho_alice" not in str(callback.headers)
    status = await client.get("/auth/session")
    assert status.json() == {"github_sign_in": True, "login": "alice"}


async def test_over_tls_the_cookies_are_secure(tmp_path: Path, sessions: InMemorySessionStore) -> None:
    async with await client_of(tmp_path, sessions, "https://repochat", **SIGN_IN) as client:
        login = await client.get("/auth/github/login")
        assert cookie_of(login, "repochat_oauth_state")["repochat_oauth_state"]["secure"] is True
        await signed_in(client)
        callback_cookies = [c for c in client.cookies.jar if c.name == SESSION_COOKIE]
        assert [c.secure for c in callback_cookies] == [True]


@pytest.mark.parametrize(
    ("params", "cookie", "message"),
    [
        ({"code": "good-code", "state": "forged"}, "real-state", "not started by this browser"),
        ({"code": "good-code", "state": "real-state"}, None, "not started by this browser"),
        ({"error": "access_denied", "state": "real-state"}, "real-state", "did not sign you in (access_denied)"),
    ],
    ids=["another state", "no state cookie", "refused at GitHub"],
)
async def test_a_callback_not_of_this_browsers_sign_in_opens_nothing(
    client: httpx.AsyncClient, sessions: InMemorySessionStore, params: dict[str, str], cookie: str | None, message: str
) -> None:
    if cookie:
        client.cookies.set("repochat_oauth_state", cookie, path="/auth/github/callback")
    answer = await client.get("/auth/github/callback", params=params)
    assert answer.status_code == 400
    assert message in answer.json()["error"]["message"]
    assert sessions.sessions == {}


async def test_a_code_github_refuses_is_a_403(client: httpx.AsyncClient, sessions: InMemorySessionStore) -> None:
    client.cookies.set("repochat_oauth_state", "s", path="/auth/github/callback")
    answer = await client.get("/auth/github/callback", params={"code": "stale", "state": "s"})
    assert (answer.status_code, answer.json()["error"]["code"]) == (403, "access_denied")
    assert sessions.sessions == {}


async def test_sign_out_needs_the_pages_own_origin_and_ends_the_session(
    client: httpx.AsyncClient, sessions: InMemorySessionStore
) -> None:
    session_id = await signed_in(client)
    for headers in ({}, {"origin": "http://evil.example"}, {"origin": "http://repochat:8080"}):
        refused = await client.post("/auth/logout", headers=headers)
        assert refused.status_code == 403, headers
    assert session_id in sessions.sessions

    out = await client.post("/auth/logout", headers={"origin": ORIGIN})
    assert out.status_code == 204
    assert session_id not in sessions.sessions
    assert cookie_of(out, SESSION_COOKIE)[SESSION_COOKIE]["max-age"] == "0"
    assert (await client.get("/auth/session")).json() == {"github_sign_in": True, "login": None}


async def test_without_an_oauth_app_sign_in_is_off(tmp_path: Path, sessions: InMemorySessionStore) -> None:
    async with await client_of(tmp_path, sessions, ORIGIN) as client:
        assert (await client.get("/auth/github/login")).status_code == 404
        assert (await client.get("/auth/session")).json() == {"github_sign_in": False, "login": None}


async def test_the_session_cookie_gives_its_token_and_a_cross_origin_change_is_refused(
    sessions: InMemorySessionStore,
) -> None:
    find = FindSession(sessions)
    now = datetime.now(UTC)
    await sessions.open("sid", Session("alice", "gho_alice"), now + timedelta(days=1), now)
    cookie = {"cookie": f"{SESSION_COOKIE}=sid", "host": "repochat:8000"}

    assert await session_token(Headers(cookie), "GET", find) == "gho_alice"
    assert await session_token(Headers({**cookie, "origin": "http://repochat:8000"}), "POST", find) == "gho_alice"
    assert await session_token(Headers({"host": "repochat:8000"}), "POST", find) is None
    assert await session_token(Headers({**cookie, "cookie": f"{SESSION_COOKIE}=ended"}), "GET", find) is None
    for origin in ({}, {"origin": "http://other.repochat:8000"}, {"origin": "null"}):
        with pytest.raises(AuthError) as refused:
            await session_token(Headers({**cookie, **origin}), "DELETE", find)
        assert refused.value.status == 403
