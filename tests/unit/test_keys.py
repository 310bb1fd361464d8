"""API keys: created once and stored as a hash, listed, revoked; identified; read through a short cache."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from adapters.keys.cache import CachedKeys
from application.access import ANONYMOUS, IdentifyCaller
from application.keys import KEY_PREFIX, CreateKey, ListKeys, RevokeKey
from application.ports.access import StoredKey
from domain.access import LOCAL_USER, Caller, Role, Scope, key_hash
from domain.errors import Conflict, InvalidInput, NotAllowed, NotFound
from tests.unit.fakes import InMemoryKeyStore

READER = Caller("key:reader", Role.READ)
INDEXER = Caller("key:indexer", Role.INDEX)


async def test_a_created_key_is_strong_shown_once_and_stored_as_its_hash_only() -> None:
    keys = InMemoryKeyStore()
    scope = Scope(("docs",), ("acme/*",))

    first = await CreateKey(keys, clock=lambda: datetime(2026, 1, 1, tzinfo=UTC)).execute("team-a", Role.READ, scope)
    second = await CreateKey(keys).execute("team-b", Role.READ)

    assert first.key.startswith(KEY_PREFIX) and len(first.key) >= len(KEY_PREFIX) + 43
    assert first.key != second.key
    assert keys.keys["team-a"] == StoredKey(
        "team-a", Role.READ, scope, key_hash(first.key), "2026-01-01T00:00:00+00:00"
    )
    assert first.key not in repr(first) and first.key not in repr(keys.keys)


async def test_names_are_unique_and_plain_and_collections_valid() -> None:
    keys = InMemoryKeyStore()
    create = CreateKey(keys)
    await create.execute("team-a", Role.READ)
    with pytest.raises(Conflict):
        await create.execute("team-a", Role.ADMIN)
    for name in ("", "team a", "-dash", "x" * 65, "key\n"):
        with pytest.raises(InvalidInput):
            await create.execute(name, Role.READ)
    with pytest.raises(InvalidInput):
        await create.execute("team-b", Role.READ, Scope(("repochat-api-keys",)))
    with pytest.raises(InvalidInput):
        await create.execute("team-b", Role.READ, Scope((), (" ",)))
    assert list(keys.keys) == ["team-a"]


async def test_only_an_admin_creates_lists_or_revokes_keys() -> None:
    keys = InMemoryKeyStore(StoredKey("team-a", Role.READ, Scope(), key_hash("k")))
    for caller in (READER, INDEXER):
        with pytest.raises(NotAllowed):
            await CreateKey(keys).execute("mine", Role.ADMIN, caller=caller)
        with pytest.raises(NotAllowed):
            await ListKeys(keys).execute(caller=caller)
        with pytest.raises(NotAllowed):
            await RevokeKey(keys).execute("team-a", caller=caller)
    assert list(keys.keys) == ["team-a"]

    revoked = await RevokeKey(keys).execute("team-a", caller=Caller("key:ops", Role.ADMIN))
    assert revoked.name == "team-a"
    assert await ListKeys(keys).execute(caller=LOCAL_USER) == []
    with pytest.raises(NotFound):
        await RevokeKey(keys).execute("team-a")


async def test_a_caller_is_an_environment_key_a_stored_key_or_nobody() -> None:
    scope = Scope(("docs",))
    keys = InMemoryKeyStore(StoredKey("team-a", Role.INDEX, scope, key_hash("stored-key")))
    identify = IdentifyCaller(frozenset({"env-1", "env-2"}), keys)

    assert await identify.execute("env-2") == Caller("key:REPOCHAT_API_KEYS#2", Role.ADMIN)
    assert await identify.execute("stored-key") == Caller("key:team-a", Role.INDEX, scope)
    assert await identify.execute("stored-key ") is None
    assert await identify.execute(None) is None
    assert await IdentifyCaller(frozenset(), InMemoryKeyStore()).execute(None) == ANONYMOUS
    assert await IdentifyCaller(frozenset(), InMemoryKeyStore()).execute("sk-placeholder") == ANONYMOUS
    assert await IdentifyCaller(frozenset(), keys).execute(None) is None, "a stored key: credentials needed"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_the_cache_reads_the_keys_once_per_period_so_a_revocation_elsewhere_lands_within_it() -> None:
    shared = InMemoryKeyStore(StoredKey("team-a", Role.READ, Scope(), key_hash("k")))
    clock = Clock()
    replica = CachedKeys(shared, seconds=5, clock=clock)

    assert [await replica.find(key_hash("k")) for _ in range(20)] == [shared.keys["team-a"]] * 20
    await asyncio.gather(*(replica.find(key_hash("k")) for _ in range(20)))
    assert shared.reads == 1

    await RevokeKey(shared).execute("team-a")  # through another replica
    clock.now += 4.9
    assert await replica.find(key_hash("k")) is not None, "still within the period"
    clock.now += 0.1
    assert await replica.find(key_hash("k")) is None
    assert shared.reads == 2


async def test_a_change_through_the_cache_is_seen_at_once() -> None:
    replica = CachedKeys(InMemoryKeyStore(), seconds=60, clock=Clock())
    assert await replica.all() == []
    created = await CreateKey(replica).execute("team-a", Role.READ)
    assert await replica.find(key_hash(created.key)) == created.stored
    await RevokeKey(replica).execute("team-a")
    assert await replica.find(key_hash(created.key)) is None


async def test_no_cache_period_reads_every_time() -> None:
    shared = InMemoryKeyStore()
    replica = CachedKeys(shared, seconds=0, clock=Clock())
    for _ in range(3):
        await replica.all()
    assert shared.reads == 3


class SlowKeyStore(InMemoryKeyStore):
    """Reads the keys, then waits for `release` before answering: a read in flight across a change."""

    def __init__(self, *keys: StoredKey) -> None:
        super().__init__(*keys)
        self.release = asyncio.Event()

    async def all(self) -> list[StoredKey]:
        read = await super().all()
        await self.release.wait()
        return read


async def test_a_read_begun_before_a_revocation_through_the_cache_is_not_kept_after_it() -> None:
    slow = SlowKeyStore(StoredKey("team-a", Role.READ, Scope(), key_hash("k")))
    replica = CachedKeys(slow, seconds=60, clock=Clock())

    in_flight = asyncio.create_task(replica.find(key_hash("k")))
    await asyncio.sleep(0)
    await RevokeKey(replica).execute("team-a")
    slow.release.set()
    assert await in_flight is not None  # it began before the revocation
    assert await replica.find(key_hash("k")) is None
