"""Access: who a caller is, and which indexed repositories it may see.

`IdentifyCaller` turns the credentials of a request into a `Caller`; `RepositoryAccess` is the
filter every use case a remote caller reaches applies to what it reads, so nothing out of scope
is ranked, counted, listed or named.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from typing import TypeVar

from application.keys import KEY_PREFIX
from application.ports.access import GitHubPermissions, KeyStore
from domain.access import Caller, Role, key_hash
from domain.documents import Manifest
from domain.sources import github_name

T = TypeVar("T")

ANONYMOUS = Caller("anonymous", Role.ADMIN)
"""A caller of a server that asks for no credentials (no keys, no GitHub permissions): today's laptop."""


class IdentifyCaller:
    """The caller a request's token names: an environment key (admin), a stored key, or a GitHub user.

    None when the token is not recognised, and when a token is needed but none was sent."""

    def __init__(self, env_keys: frozenset[str], keys: KeyStore, github: GitHubPermissions | None = None) -> None:
        self._env_keys = sorted(env_keys)
        self._keys = keys
        self._github = github

    async def needs_credentials(self) -> bool:
        return bool(self._env_keys) or self._github is not None or bool(await self._keys.all())

    async def execute(self, token: str | None) -> Caller | None:
        """A server that asks for no credentials takes a token as it takes none: OpenAI's clients always
        send one (a placeholder), and it names no one there."""
        if not await self.needs_credentials():
            return ANONYMOUS
        if not token:
            return None
        for number, key in enumerate(self._env_keys, 1):
            if secrets.compare_digest(token.encode(), key.encode()):
                return Caller(f"key:REPOCHAT_API_KEYS#{number}", Role.ADMIN)
        stored = await self._keys.find(key_hash(token))
        if stored is not None:
            return Caller(f"key:{stored.name}", stored.role, stored.scope)
        if self._github is not None and not token.startswith(KEY_PREFIX):  # a key revoked or mistyped stays here
            user = await self._github.user(token)
            if user is not None:
                return Caller(f"github:{user.login}", Role.READ, github_user=user)
        return None


class RepositoryAccess:
    """What of the indexed repositories a caller may see: its scope, and for a GitHub user, GitHub's answer.

    A GitHub user sees GitHub repositories only (a local folder has no GitHub permissions to mirror),
    and only those GitHub says it may read; without `github` configured it sees nothing (fail closed).
    """

    def __init__(self, github: GitHubPermissions | None = None) -> None:
        self._github = github

    async def keep(
        self, caller: Caller, items: Sequence[T], place: Callable[[T], tuple[str, str]], named: str | None = None
    ) -> list[T]:
        """The items the caller may see, in their order; `place` says each one's collection and repository id.

        `named`: the repository the request names, which GitHub is asked about whether it is indexed or not, so
        that what the caller can observe of GitHub's checks (its rate limit, their time) does not tell."""
        if caller.sees_everything:
            return list(items)
        placed = [(item, *place(item)) for item in items]
        in_scope = [(item, repository) for item, c, repository in placed if caller.scope.admits(c, repository)]
        user = caller.github_user
        if user is None:
            return [item for item, _ in in_scope]
        if self._github is None:
            return []
        names = [github_name(repository) for _, repository in in_scope]
        asked = github_name(named) if named else None
        wanted = {name for name in [*names, asked] if name is not None}
        readable = await self._github.readable(user, wanted) if wanted else frozenset()
        return [item for (item, _), name in zip(in_scope, names, strict=True) if name in readable]

    async def admits(self, caller: Caller, collection: str, repository: str) -> bool:
        return bool(await self.keep(caller, [repository], lambda r: (collection, r)))

    async def manifests(
        self, caller: Caller, pairs: Sequence[tuple[str, Manifest]], named: str | None = None
    ) -> list[tuple[str, Manifest]]:
        """The (collection, manifest) pairs of repositories the caller may see (`named`: as in `keep`)."""
        return await self.keep(caller, pairs, lambda pair: (pair[0], pair[1].repository), named)
