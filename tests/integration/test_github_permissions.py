"""GitHubUserPermissions over real HTTP against the fake GitHub's users, their tokens and their grants.

The clock of the caches is the test's, so access removed on GitHub is seen to go when `ttl` has passed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from adapters.access.github_permissions import GitHubUserPermissions
from domain.access import GitHubUser
from domain.errors import AccessDenied, RateLimited, UpstreamUnavailable
from tests.integration.fake_github import Canned, FakeGitHub, rate_limited, server_error

TTL = 300.0
JSON = "application/json"
REPOSITORIES = ["acme/secret", "acme/open", "alice/notes", "other/hidden", "acme/missing"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def github(tmp_path: Path) -> Iterator[FakeGitHub]:
    with FakeGitHub(tmp_path) as gh:
        for owner, name, private in [
            ("acme", "secret", True),
            ("acme", "open", False),
            ("alice", "notes", True),
            ("other", "hidden", True),
        ]:
            gh.create_repo(owner, name, {"README.md": f"# {name}\n"})
            gh.hosted(owner, name).private = private
        yield gh


@pytest_asyncio.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield http


def user(github: FakeGitHub, login: str, *private: str) -> GitHubUser:
    return GitHubUser(login, github.users.add(login, *private))


async def test_a_token_names_its_user_and_an_unknown_one_none(github: FakeGitHub, client: httpx.AsyncClient) -> None:
    permissions = GitHubUserPermissions(client, github.api_url, TTL)
    token = github.users.add("alice")

    assert await permissions.user(token) == GitHubUser("alice", token)
    assert await permissions.user("gho_not_a_token") is None
    github.forget_requests()
    assert await permissions.user(token) == GitHubUser("alice", token)
    assert github.paths() == [], "asked again within the cache time"


async def test_a_user_reads_public_repositories_and_the_private_ones_granted(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    permissions = GitHubUserPermissions(client, github.api_url, TTL)
    alice = user(github, "alice", "acme/secret")
    bob = user(github, "bob")

    assert await permissions.readable(alice, REPOSITORIES) == {"acme/secret", "acme/open", "alice/notes"}
    assert await permissions.readable(bob, [name.upper() for name in REPOSITORIES]) == {"acme/open"}
    assert all(
        request.headers["authorization"] in (f"Bearer {alice.token}", f"Bearer {bob.token}")
        for request in github.requests
    ), "only the users' own tokens are used"


async def test_the_list_answers_for_the_repositories_it_holds_and_the_rest_are_asked_one_by_one(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    permissions = GitHubUserPermissions(client, github.api_url, TTL)
    alice = user(github, "alice", "acme/secret")

    await permissions.readable(alice, REPOSITORIES)
    assert sorted(github.paths()) == ["/repos/acme/missing", "/repos/acme/open", "/repos/other/hidden", "/user/repos"]

    github.forget_requests()
    assert await permissions.readable(alice, REPOSITORIES) == {"acme/secret", "acme/open", "alice/notes"}
    assert github.paths() == [], "asked again within the cache time"

    bob = user(github, "bob")
    github.forget_requests()
    assert await permissions.readable(bob, ["acme/secret", "alice/notes"]) == frozenset()
    assert github.paths() == ["/user/repos"], "repositories GitHub showed private and bob's list lacks: not asked"


async def test_access_removed_on_github_goes_when_the_cache_time_has_passed(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    clock = Clock()
    permissions = GitHubUserPermissions(client, github.api_url, TTL, clock)
    alice = user(github, "alice", "acme/secret")
    assert "acme/secret" in await permissions.readable(alice, REPOSITORIES)

    github.users.revoke("alice", "acme/secret")
    clock.now += TTL - 1
    assert "acme/secret" in await permissions.readable(alice, REPOSITORIES), "kept within the cache time"
    clock.now += 1
    assert await permissions.readable(alice, REPOSITORIES) == {"acme/open", "alice/notes"}

    github.users.grant("alice", "other/hidden")
    clock.now += TTL
    assert "other/hidden" in await permissions.readable(alice, REPOSITORIES)


async def test_a_list_of_several_pages_is_read_to_its_end(github: FakeGitHub, client: httpx.AsyncClient) -> None:
    permissions = GitHubUserPermissions(client, github.api_url, TTL)
    bob = user(github, "bob")
    first_page = json.dumps([{"full_name": "acme/open", "private": False, "visibility": "public"}]).encode()
    headers = {"link": f'<{github.api_url}/user/repos?per_page=100&page=2>; rel="next"', "content-type": JSON}
    github.inject(r"^/user/repos$", Canned(200, headers, first_page))

    assert await permissions.readable(bob, ["acme/open"]) == {"acme/open"}
    assert [(r.path, r.query) for r in github.requests] == [
        ("/user/repos", "per_page=100&page=1"),
        ("/user/repos", "per_page=100&page=2"),
    ]


async def test_a_plain_403_is_no_access_and_an_outage_or_rate_limit_denies_with_a_message(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    permissions = GitHubUserPermissions(client, github.api_url, TTL)
    alice = user(github, "alice")
    github.inject(r"^/repos/acme/open$", Canned(403, {}, {"message": "Resource protected by SAML enforcement"}))
    assert await permissions.readable(alice, ["acme/open"]) == frozenset()

    carol = user(github, "carol")
    github.inject(r"^/user/repos$", forever=server_error(502))
    with pytest.raises(UpstreamUnavailable, match="could not say what carol may read, so access is denied") as down:
        await permissions.readable(carol, ["acme/open"])
    assert carol.token not in down.value.message

    github.clear_injections()
    github.inject(r"^/user/repos$", rate_limited(reset_epoch=2_000_000_000))
    with pytest.raises(RateLimited, match="rate-limits the token checking what carol may read"):
        await permissions.readable(carol, ["acme/open"])


async def test_a_token_github_no_longer_takes_is_refused(github: FakeGitHub, client: httpx.AsyncClient) -> None:
    permissions = GitHubUserPermissions(client, github.api_url, TTL)
    alice = user(github, "alice")
    del github.users.by_token[alice.token]
    with pytest.raises(AccessDenied, match="no longer accepts the token of alice"):
        await permissions.readable(alice, ["acme/open"])
