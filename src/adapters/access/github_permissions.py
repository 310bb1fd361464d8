"""GitHubUserPermissions: who a token belongs to, and what its user may read, asked of GitHub with that token.

What a user may read is learnt in two steps, each answer kept `ttl` seconds per token:

1. the user's repository list (`GET /user/repos`, 100 a page): every repository the user owns, is a
   collaborator of, or reaches through an organization, in a page or a few for most people;
2. each repository asked about that the list does not hold, on its own (`GET /repos/{owner}/{name}`
   with the user's token: 200 is readable, public ones included; 404 or a plain 403 is not), unless it
   is a repository GitHub has shown as private lately: a private repository missing from a complete
   list is one the user cannot read.

Why both: checking every repository alone costs one request per indexed repository per user per
`ttl`, a thousand before the first search of a server holding a thousand; the list alone misses the
public repositories of others. Together a team's server costs about a page per user, plus one request
per indexed public repository the user has no part in. The list is read for at most `MAX_PAGES`
pages; what lies beyond is checked one by one, so a cut list costs requests, never a wrong answer.

Fail closed: when GitHub is down, rate-limits the token or refuses it, the answer is an error
(UpstreamUnavailable, RateLimited, AccessDenied) the caller sees, never access granted; answers are
not kept past `ttl`, so access removed on GitHub is gone within it. The server's GITHUB_TOKEN is never
used here: every request carries the user's own token.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Collection
from typing import Any

import httpx

from adapters.access.expiring_cache import ExpiringCache
from adapters.sources.github.http import Answer, GitHubHttp, Repo
from application.ports.access import GitHubPermissions
from application.ports.sources import no_note
from domain.access import GitHubUser
from domain.errors import AccessDenied, NotFound, RateLimited, UpstreamUnavailable

PER_PAGE = 100
MAX_PAGES = 20
"""The list is read up to 2,000 repositories; those beyond are checked one by one."""
CHECKS_AT_ONCE = 8
USER_SECONDS = 60.0
"""Who a token belongs to is kept at most this long (less when `ttl` is shorter)."""
CACHED_TOKENS = 10_000
CACHED_CHECKS = 100_000
MAX_LIST_BYTES = 32 * 1024 * 1024

log = logging.getLogger(__name__)


class GitHubUserPermissions(GitHubPermissions):
    def __init__(
        self, client: httpx.AsyncClient, api_url: str, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._client = client
        self._api_url = api_url
        self._users = ExpiringCache[str, GitHubUser | None](min(ttl, USER_SECONDS), CACHED_TOKENS, clock)
        self._lists = ExpiringCache[str, tuple[frozenset[str], bool]](ttl, CACHED_TOKENS, clock)
        self._checks = ExpiringCache[tuple[str, str], bool](ttl, CACHED_CHECKS, clock)
        self._private = ExpiringCache[str, bool](ttl, CACHED_CHECKS, clock)
        """Repositories GitHub showed as private (to any user): missing from a complete list, unreadable."""

    async def user(self, token: str) -> GitHubUser | None:
        key = _token_key(token)
        cached = self._users.get(key)
        if cached is not None:
            return cached[0]
        answer = await self._get(token, "/user", allow=(401,))
        user = GitHubUser(str(answer.json()["login"]), token) if answer.status == 200 else None
        self._users.put(key, user)
        return user

    async def readable(self, user: GitHubUser, repositories: Collection[str]) -> frozenset[str]:
        wanted = {name.lower() for name in repositories}
        key = _token_key(user.token)
        listed, complete = await self._listed(key, user)
        unlisted = [name for name in sorted(wanted - listed) if not (complete and self._private.get(name))]
        gate = asyncio.Semaphore(CHECKS_AT_ONCE)

        async def check(name: str) -> bool:
            async with gate:
                return await self._check(key, user, name)

        found = await asyncio.gather(*(check(name) for name in unlisted))
        return frozenset(wanted & listed) | {name for name, ok in zip(unlisted, found, strict=True) if ok}

    async def _listed(self, key: str, user: GitHubUser) -> tuple[frozenset[str], bool]:
        """The names of the user's repository list, and whether the list is whole."""
        cached = self._lists.get(key)
        if cached is not None:
            return cached[0]
        names: set[str] = set()
        for page in range(1, MAX_PAGES + 1):
            params = {"per_page": str(PER_PAGE), "page": str(page)}
            answer = await self._get(user.token, "/user/repos", user=user, params=params)
            items = answer.json()
            if not isinstance(items, list):
                raise UpstreamUnavailable("GitHub answered GET /user/repos with something other than a list")
            for item in items:
                self._learn(item)
                names.add(str(item["full_name"]).lower())
            if 'rel="next"' not in answer.headers.get("link", ""):
                listing = (frozenset(names), True)
                break
        else:
            listing = (frozenset(names), False)
        self._lists.put(key, listing)
        return listing

    async def _check(self, key: str, user: GitHubUser, name: str) -> bool:
        cached = self._checks.get((key, name))
        if cached is not None:
            return cached[0]
        owner, _, repository = name.partition("/")
        try:
            answer = await self._get(user.token, Repo(owner, repository).api_path(), user=user, allow=(404,))
        except AccessDenied:  # a plain 403 (SSO not authorized for the token, an IP allow list): not readable
            readable = False
        else:
            readable = answer.status == 200
            if readable:
                self._learn(answer.json())
        self._checks.put((key, name), readable)
        return readable

    def _learn(self, repository: Any) -> None:
        if isinstance(repository, dict) and repository.get("visibility", "") == "private":
            self._private.put(str(repository["full_name"]).lower(), True)

    async def _get(
        self,
        token: str,
        path: str,
        *,
        user: GitHubUser | None = None,
        params: dict[str, str] | None = None,
        allow: tuple[int, ...] = (),
    ) -> Answer:
        """GET with `token`, no waiting for rate limits; GitHub's refusals explained for this use."""
        http = GitHubHttp(
            self._client, self._api_url, token, max_rate_limit_wait=0, max_attempts=2, sleep=asyncio.sleep
        )
        whose = f"what {user.login} may read" if user else "who the caller is"
        try:
            answer = await http.get(None, path, no_note, params=params, allow=(401, *allow), max_body=MAX_LIST_BYTES)
        except RateLimited as e:
            raise RateLimited(f"GitHub rate-limits the token checking {whose}; try again later") from e
        except (UpstreamUnavailable, NotFound) as e:
            log.warning("GitHub could not say %s: %s", whose, e.message)  # it names the repository checked
            raise UpstreamUnavailable(f"GitHub could not say {whose}, so access is denied; try again later") from e
        if answer.status == 401 and user is not None:
            raise AccessDenied(f"GitHub no longer accepts the token of {user.login}: sign in again")
        return answer


def _token_key(token: str) -> str:
    """Tokens are kept in memory by their hash only."""
    return hashlib.sha256(token.encode()).hexdigest()
