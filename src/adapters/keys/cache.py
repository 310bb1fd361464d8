"""CachedKeys: a KeyStore read at most once every few seconds by each process.

Every request looks its key up; going to Chroma (a server, for replicas) each time would add a
round trip to every call. Instead each process keeps the whole list of keys (a few per team) for
`seconds`, so a key created or revoked elsewhere is seen by every replica within that time, and a
change made through this process at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from application.ports.access import KeyStore, StoredKey


class CachedKeys(KeyStore):
    def __init__(self, keys: KeyStore, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._keys = keys
        self._seconds = seconds
        self._clock = clock
        self._by_hash: dict[str, StoredKey] = {}
        self._read_at: float | None = None
        self._reading = asyncio.Lock()
        self._changes = 0
        """Counts the changes made through this process, so a read begun before one is not kept after it."""

    async def find(self, key_hash: str) -> StoredKey | None:
        return (await self._current()).get(key_hash)

    async def all(self) -> list[StoredKey]:
        return sorted((await self._current()).values(), key=lambda key: key.name)

    async def add(self, key: StoredKey) -> None:
        try:
            await self._keys.add(key)
        finally:
            self._changed()

    async def revoke(self, name: str) -> StoredKey:
        try:
            return await self._keys.revoke(name)
        finally:
            self._changed()

    def _changed(self) -> None:
        self._changes += 1
        self._read_at = None

    async def _current(self) -> dict[str, StoredKey]:
        """The keys by hash, read again once `seconds` have passed (one read at a time: the others wait for it)."""
        async with self._reading:
            if self._read_at is None or self._clock() - self._read_at >= self._seconds:
                changes = self._changes
                keys = await self._keys.all()
                self._by_hash = {key.key_hash: key for key in keys}
                self._read_at = self._clock() if changes == self._changes else None
            return self._by_hash
