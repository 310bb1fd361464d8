"""GitHub's permissions mirrored, over real HTTP: `repochat serve` with REPOCHAT_GITHUB_PERMISSIONS=true
against the fake GitHub's users. The server crawls with its own GITHUB_TOKEN, which reads everything;
a caller sees only what its GitHub token (or its GitHub sign-in) reads on the fake.

`acme/open` is public (default collection); `acme/secret` is private, in the collection `secret-team`,
granted to alice and not to bob.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.cookies import SimpleCookie
from typing import Any

import httpx
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from tests.integration.fake_github import FakeGitHub, server_error
from tests.integration.fake_github_users import OAuthApp
from tests.integration.helpers import ApiServer, repochat_env, wait_until

pytestmark = pytest.mark.timeout(300)

ADMIN_KEY = "admin-key-0123456789abcdef"
SERVER_TOKEN = "ghp_server_crawls_everything_0123456789"
TTL_SECONDS = 2
SECRET_WORDS = "zebra quartz launch code"
OPEN = "acme/open"
SECRET = "acme/secret"
SECRET_COLLECTION = "secret-team"


@pytest.fixture(scope="module")
def github(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGitHub]:
    with FakeGitHub(tmp_path_factory.mktemp("access-github")) as gh:
        gh.create_repo("acme", "open", {"docs/widgets.md": "# Widgets\n\nPublic widget docs: turn the crank.\n"})
        gh.create_repo("acme", "secret", {"docs/plan.md": "# Plan\n\nThe launch code is zebra-quartz.\n"})
        gh.hosted("acme", "secret").private = True
        gh.tokens.add(SERVER_TOKEN)
        yield gh


@pytest.fixture(scope="module")
def oauth_app(github: FakeGitHub) -> OAuthApp:
    return github.users.register_app()


@pytest.fixture(scope="module")
def server(github: FakeGitHub, oauth_app: OAuthApp, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    folder = tmp_path_factory.mktemp("access-server")
    env = repochat_env(
        folder / "data",
        REPOCHAT_GITHUB_PERMISSIONS="true",
        REPOCHAT_GITHUB_PERMISSIONS_TTL=str(TTL_SECONDS),
        REPOCHAT_GITHUB_OAUTH_CLIENT_ID=oauth_app.client_id,
        REPOCHAT_GITHUB_OAUTH_CLIENT_SECRET=oauth_app.client_secret,
        REPOCHAT_GITHUB_API_URL=github.api_url,
        REPOCHAT_GITHUB_WEB_URL=github.api_url,
        REPOCHAT_API_KEYS=ADMIN_KEY,
        REPOCHAT_LLM="extractive",
        GITHUB_TOKEN=SERVER_TOKEN,
    )
    api = ApiServer(env, folder / "serve.log").wait_ready("/readyz", timeout=120)
    oauth_app.callback_url = f"{api.url}/auth/github/callback"
    admin = {"authorization": f"Bearer {ADMIN_KEY}"}
    for body in ({"source": OPEN}, {"source": SECRET, "collection": SECRET_COLLECTION}):
        accepted = api.client.post("/v1/repositories", json=body, headers=admin)
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"]
        wait_until(lambda job_id=job_id: _finished(api, job_id), 60, "an index job")
    try:
        yield api
    finally:
        api.close()


def _finished(api: ApiServer, job_id: str) -> bool:
    job = api.client.get(f"/v1/jobs/{job_id}", headers={"authorization": f"Bearer {ADMIN_KEY}"}).json()
    assert job["state"] != "failed", job
    return bool(job["state"] == "succeeded")


@pytest.fixture(scope="module")
def users(github: FakeGitHub) -> dict[str, str]:
    """The users' tokens: alice may read acme/secret, bob may not."""
    return {"alice": github.users.add("alice", SECRET), "bob": github.users.add("bob")}


def as_user(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def seen(api: ApiServer, headers: dict[str, str]) -> dict[str, Any]:
    """What a caller sees of the two repositories on each route."""
    listed = api.client.get("/v1/repositories", headers=headers).json()["repositories"]
    found = []
    for collection in ("default", SECRET_COLLECTION):
        answer = api.client.post("/v1/search", json={"query": SECRET_WORDS, "collection": collection}, headers=headers)
        assert answer.status_code in (200, 404), answer.text
        found += answer.json().get("hits", [])
    models = api.client.get("/v1/models", headers=headers).json()["data"]
    return {
        "listed": sorted(r["id"] for r in listed),
        "found": sorted({hit["repository"] for hit in found}),
        "models": sorted(m["id"] for m in models),
    }


def test_a_github_token_sees_public_repositories_and_the_private_ones_its_user_may_read(
    server: ApiServer, users: dict[str, str]
) -> None:
    alice, bob = seen(server, as_user(users["alice"])), seen(server, as_user(users["bob"]))
    assert (alice["listed"], alice["found"]) == ([OPEN, SECRET], [OPEN, SECRET])
    assert (bob["listed"], bob["found"]) == ([OPEN], [OPEN])
    assert f"repochat:{SECRET_COLLECTION}" in alice["models"]
    assert f"repochat:{SECRET_COLLECTION}" not in bob["models"]


def test_a_private_repository_is_not_found_for_a_user_who_may_not_read_it(
    server: ApiServer, users: dict[str, str]
) -> None:
    bob, alice = as_user(users["bob"]), as_user(users["alice"])

    def search(repository: str, headers: dict[str, str]) -> httpx.Response:
        body = {"query": SECRET_WORDS, "collection": SECRET_COLLECTION, "filters": {"repository": repository}}
        return server.client.post("/v1/search", json=body, headers=headers)

    nowhere = search("acme/never-indexed", bob)
    hidden = search(SECRET, bob)
    assert (hidden.status_code, hidden.json()) == (nowhere.status_code, nowhere.json()), "as if it did not exist"
    assert "zebra" not in hidden.text
    assert "zebra-quartz" in search(SECRET, alice).text
    chat = {"model": f"repochat:{SECRET_COLLECTION}", "messages": [{"role": "user", "content": SECRET_WORDS}]}
    refused = server.client.post("/v1/chat/completions", json=chat, headers=bob)
    assert refused.status_code == 404 and "zebra" not in refused.text
    answered = server.client.post("/v1/chat/completions", json=chat, headers=alice)
    assert answered.status_code == 200 and "zebra-quartz" in answered.json()["choices"][0]["message"]["content"]
    assert server.client.get(f"/v1/repositories/{SECRET}", headers=bob).status_code == 404


def test_a_token_github_does_not_take_is_refused(server: ApiServer) -> None:
    assert server.client.get("/v1/repositories", headers=as_user("gho_not_a_token")).status_code == 403
    assert server.client.get("/v1/repositories").status_code == 401
    assert server.client.get("/v1/repositories", headers=as_user(SERVER_TOKEN)).status_code == 403


async def test_over_mcp_a_user_sees_what_github_lets_it_read(server: ApiServer, users: dict[str, str]) -> None:
    async def tool_text(token: str, tool: str, **arguments: Any) -> str:
        async with (
            httpx2.AsyncClient(headers=as_user(token), timeout=60) as http,
            Client(streamable_http_client(f"{server.url}/mcp", http_client=http)) as client,
        ):
            result = await client.call_tool(tool, arguments)
            return "\n".join(getattr(part, "text", "") for part in result.content)

    assert SECRET in await tool_text(users["alice"], "list_repositories")
    assert SECRET not in await tool_text(users["bob"], "list_repositories")
    bob_found = await tool_text(users["bob"], "search_docs", query=SECRET_WORDS, collection=SECRET_COLLECTION)
    assert "zebra" not in bob_found
    alice_found = await tool_text(users["alice"], "search_docs", query=SECRET_WORDS, collection=SECRET_COLLECTION)
    assert "zebra-quartz" in alice_found


def test_access_removed_on_github_is_gone_after_the_cache_time(
    server: ApiServer, github: FakeGitHub, users: dict[str, str]
) -> None:
    alice = as_user(users["alice"])
    assert SECRET in seen(server, alice)["listed"]
    github.users.revoke("alice", SECRET)
    try:
        revoked_at = time.monotonic()
        wait_until(lambda: SECRET not in seen(server, alice)["listed"], TTL_SECONDS + 10, "access removed")
        assert time.monotonic() - revoked_at <= TTL_SECONDS + 2
        assert seen(server, alice)["found"] == [OPEN]
    finally:
        github.users.grant("alice", SECRET)


def test_when_github_cannot_answer_access_is_denied_with_a_message(server: ApiServer, github: FakeGitHub) -> None:
    carol = as_user(github.users.add("carol", SECRET))
    github.inject(r"^/user/repos$", forever=server_error(503))
    try:
        answer = server.client.get("/v1/repositories", headers=carol)
        assert answer.status_code == 503
        assert "so access is denied" in answer.json()["error"]["message"]
        assert SECRET not in answer.text
    finally:
        github.clear_injections()


@contextmanager
def sign_in(server: ApiServer, github: FakeGitHub, login: str) -> Iterator[httpx.Client]:
    """A browser-like client that went through GitHub's OAuth web flow as `login` (redirects followed by hand)."""
    github.users.signed_in = login
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        yield signed_in(server, browser)


def signed_in(server: ApiServer, browser: httpx.Client) -> httpx.Client:
    to_github = browser.get("/auth/github/login")
    assert to_github.status_code == 302
    back = httpx.get(to_github.headers["location"])
    assert back.status_code == 302 and back.headers["location"].startswith(f"{server.url}/auth/github/callback")
    signed = browser.get(back.headers["location"])
    assert (signed.status_code, signed.headers["location"]) == (303, "/"), signed.text
    cookies = [SimpleCookie(value) for value in signed.headers.get_list("set-cookie")]
    cookie = next(c for c in cookies if "repochat_session" in c)["repochat_session"]
    assert (cookie["httponly"], cookie["samesite"], cookie["secure"]) == (True, "lax", "")
    return browser


def test_signing_in_with_github_gives_the_browser_what_its_user_may_read(server: ApiServer, github: FakeGitHub) -> None:
    github.users.add("erin", SECRET)
    github.users.add("frank")
    with sign_in(server, github, "frank") as frank, sign_in(server, github, "erin") as erin:
        assert erin.get("/auth/session").json() == {"github_sign_in": True, "login": "erin"}
        assert github.users.authorize_requests[-1]["scope"] == "repo"
        assert sorted(r["id"] for r in erin.get("/v1/repositories").json()["repositories"]) == [OPEN, SECRET]
        assert sorted(r["id"] for r in frank.get("/v1/repositories").json()["repositories"]) == [OPEN]

        ask = {"question": SECRET_WORDS, "collection": SECRET_COLLECTION}
        assert erin.post("/v1/ask", json=ask).status_code == 403, "no Origin: not from the chat page"
        from_page = erin.post("/v1/ask", json=ask, headers={"origin": server.url})
        assert from_page.status_code == 200 and "zebra-quartz" in from_page.text

        out = erin.post("/auth/logout", headers={"origin": server.url})
        assert out.status_code == 204
        assert erin.get("/auth/session").json() == {"github_sign_in": True, "login": None}
        assert erin.get("/v1/repositories").status_code == 401
