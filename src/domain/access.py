"""Who may read what: a caller, its role, and the repositories in its scope.

Every use case a remote caller reaches takes a `Caller`. The HTTP edge makes one from the request's
credentials (an API key, a GitHub token or session); the CLI and MCP over stdio act as the local
user, `LOCAL_USER`, who may do everything. Out of scope is unseen: a use case treats a repository
the caller may not read exactly as one that is not indexed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from enum import StrEnum
from fnmatch import fnmatchcase

from domain.errors import InvalidInput, NotAllowed

KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class Role(StrEnum):
    READ = "read"
    """Search, ask, read files, list repositories and jobs."""
    INDEX = "index"
    """Also index, sync, cancel and forget."""
    ADMIN = "admin"
    """Everything, and the keys."""

    def covers(self, needed: Role) -> bool:
        order = list(Role)
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True)
class Scope:
    """The collections and repositories a caller may see; an empty tuple admits every one.

    Repository patterns are globs over repository ids (`acme/*`, `acme/docs`, `local:*`),
    case-insensitive as GitHub names are; `*` also spans the `/` of a subfolder id (`acme/repo/docs`).
    """

    collections: tuple[str, ...] = ()
    repositories: tuple[str, ...] = ()

    def admits(self, collection: str, repository: str) -> bool:
        if self.collections and collection not in self.collections:
            return False
        name = repository.lower()
        return not self.repositories or any(fnmatchcase(name, pattern.lower()) for pattern in self.repositories)

    @property
    def is_everything(self) -> bool:
        return not self.collections and not self.repositories

    def admits_indexing(self, collection: str, repository: str) -> bool:
        """Whether a key of this scope may index `repository` into `collection`.

        Indexing reads with the server's GitHub token, so a scope that limits collections but names no
        repository admits none: its key would copy any repository the token can read into its collection."""
        return self.admits(collection, repository) and (bool(self.repositories) or not self.collections)


@dataclass(frozen=True)
class GitHubUser:
    """A caller authenticated by GitHub: what it may read is what GitHub lets this user read."""

    login: str
    token: str = field(repr=False)


@dataclass(frozen=True)
class Caller:
    name: str
    """What logs and metrics name the caller by: `key:NAME`, `github:LOGIN`, `local`; never a secret."""
    role: Role
    scope: Scope = Scope()
    github_user: GitHubUser | None = None
    """Set for a GitHub user: GitHub's permissions decide, within `scope`."""

    def require(self, role: Role) -> None:
        """NotAllowed unless the caller's role covers `role`."""
        if not self.role.covers(role):
            raise NotAllowed(f"{self.name} has the {self.role} role; this needs the {role} role")

    @property
    def sees_everything(self) -> bool:
        return self.github_user is None and self.scope.is_everything


LOCAL_USER = Caller("local", Role.ADMIN)
"""The CLI and MCP over stdio: the person at the machine, who may do everything."""


def key_hash(key: str) -> str:
    """How a key is stored: its SHA-256. Keys are random and long, so a fast hash does not weaken them."""
    return hashlib.sha256(key.encode()).hexdigest()


def validate_key_name(name: str) -> str:
    """A key's name is what logs and metrics show: short, and plain enough to read in a log line."""
    if not KEY_NAME.fullmatch(name):
        raise InvalidInput(
            f"invalid key name {name!r}: use 1-64 letters, digits, '.', '_' and '-', starting with a letter or digit"
        )
    return name
