"""API keys: create one (shown once, stored as a hash), list them, revoke one. Only an admin may.

The CLI acts as the local user (an admin); over HTTP the caller's role decides.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from application.clock import Clock, utc_now
from application.ports.access import KeyStore, StoredKey
from domain.access import LOCAL_USER, Caller, Role, Scope, key_hash, validate_key_name
from domain.collections import validate_collection
from domain.errors import InvalidInput, NotAllowed

KEY_PREFIX = "rc_"
"""Marks a repochat key, so a secret scanner (or a person) can tell what a leaked string is."""
KEY_BYTES = 32
"""Random bytes in a key: 256 bits, beyond guessing, so a fast hash of it is a safe way to store it."""
EVERYTHING = Scope()


@dataclass(frozen=True)
class NewKey:
    key: str = field(repr=False)
    """The key itself: given once, to whoever created it, and never stored."""
    stored: StoredKey


class CreateKey:
    def __init__(self, keys: KeyStore, clock: Clock = utc_now) -> None:
        self._keys = keys
        self._clock = clock

    async def execute(self, name: str, role: Role, scope: Scope = EVERYTHING, *, caller: Caller = LOCAL_USER) -> NewKey:
        """Conflict when a key of that name exists (revoke it first)."""
        _require_key_admin(caller)
        validate_key_name(name)
        for collection in scope.collections:
            validate_collection(collection)
        if any(not pattern.strip() for pattern in scope.repositories):
            raise InvalidInput("a repository pattern cannot be empty: give one like 'acme/*' or 'acme/docs'")
        _check_scope_of_role(role, scope)
        key = KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)
        stored = StoredKey(name, role, scope, key_hash(key), self._clock().isoformat(timespec="seconds"))
        await self._keys.add(stored)
        return NewKey(key, stored)


def _require_key_admin(caller: Caller) -> None:
    """Keys are managed by admins who see everything: a key may not make one that sees more than it does."""
    caller.require(Role.ADMIN)
    if not caller.sees_everything:
        raise NotAllowed(f"{caller.name} has a scope: only an admin of every collection and repository manages keys")


def _check_scope_of_role(role: Role, scope: Scope) -> None:
    """An admin manages every key, so a scope would only pretend to limit it; an index key limited to
    collections must name its repositories, since it indexes with the server's GitHub token."""
    if role is Role.ADMIN and not scope.is_everything:
        raise InvalidInput("an admin key sees every collection and repository: give a scope to read or index keys only")
    if role is Role.INDEX and scope.collections and not scope.repositories:
        raise InvalidInput(
            "an index key scoped to collections must name the repositories it may index (--repository 'acme/*'): "
            "it indexes with the server's GitHub token, which can read more than this key may"
        )


class ListKeys:
    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys

    async def execute(self, *, caller: Caller = LOCAL_USER) -> list[StoredKey]:
        """Every key by name (their hashes too: a view shows neither key nor hash)."""
        _require_key_admin(caller)
        return sorted(await self._keys.all(), key=lambda key: key.name)


class RevokeKey:
    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys

    async def execute(self, name: str, *, caller: Caller = LOCAL_USER) -> StoredKey:
        """The key revoked; NotFound when no key has that name. Every replica refuses the key once its cache of
        keys expires."""
        _require_key_admin(caller)
        return await self._keys.revoke(name)
