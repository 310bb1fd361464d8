"""Ports: who a caller is (API keys, GitHub users) and what GitHub lets a user read."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from domain.access import GitHubUser, Role, Scope


@dataclass(frozen=True)
class StoredKey:
    """An API key as it is kept: its name, what it may do, and a hash of the key (never the key)."""

    name: str
    role: Role
    scope: Scope
    key_hash: str
    created_at: str = ""


class KeyStore(Protocol):
    """The API keys every replica and worker sees."""

    async def find(self, key_hash: str) -> StoredKey | None: ...

    async def add(self, key: StoredKey) -> None:
        """Conflict when a key of that name exists."""
        ...

    async def all(self) -> list[StoredKey]: ...

    async def revoke(self, name: str) -> StoredKey:
        """The key removed; NotFound when no key has that name."""
        ...


class GitHubPermissions(Protocol):
    """GitHub's answer to "who is this token" and "may this user read that repository"."""

    async def user(self, token: str) -> GitHubUser | None:
        """The user a token belongs to; None when GitHub does not take the token."""
        ...

    async def readable(self, user: GitHubUser, repositories: Collection[str]) -> frozenset[str]:
        """Of `repositories` (`owner/name`, as GitHub spells them, case-insensitive), the ones `user` may
        read on GitHub, public ones included, lower-cased. Answers may be cached for a while, so access
        removed on GitHub is lost within that time."""
        ...
