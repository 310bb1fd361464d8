"""What a GitHub user who may not read a repository learns of it from an error: nothing.

Failed on 4f498c4, proving one finding of the review.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from adapters.access.github_permissions import GitHubUserPermissions
from domain.access import GitHubUser
from domain.errors import UpstreamUnavailable
from tests.integration.fake_github import FakeGitHub, server_error


@pytest.fixture
def github(tmp_path: Path) -> Iterator[FakeGitHub]:
    with FakeGitHub(tmp_path) as gh:
        for name, private in [("secret-merger", True), ("open", False)]:
            gh.create_repo("acme", name, {"README.md": f"# {name}\n"})
            gh.hosted("acme", name).private = private
        yield gh


@pytest_asyncio.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield http


async def test_an_outage_names_no_repository_the_user_may_not_read(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    """Every indexed repository missing from a user's list is checked with GET /repos/{owner}/{name}; when
    that check fails (5xx, a timeout) the 503 the caller gets says `GET /repos/acme/secret-merger`."""
    permissions = GitHubUserPermissions(client, github.api_url, 300.0)
    bob = GitHubUser("bob", github.users.add("bob"))
    github.inject(r"^/repos/acme/secret-merger$", forever=server_error(502))

    with pytest.raises(UpstreamUnavailable) as down:
        await permissions.readable(bob, ["acme/open", "acme/secret-merger"])
    assert "secret-merger" not in down.value.message, down.value.message
