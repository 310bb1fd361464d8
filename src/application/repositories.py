"""What is indexed, and forgetting it."""

from __future__ import annotations

from dataclasses import dataclass

from application.ports import ManifestStore, SyncStatusStore, VectorIndex
from application.sync import SyncLedger, sync_key
from domain.collections import validate_collection
from domain.documents import Manifest
from domain.errors import InvalidInput, NotFound
from domain.repository_names import rank_by_name
from domain.sync import SyncStatus


@dataclass(frozen=True)
class IndexedRepository:
    collection: str
    manifest: Manifest
    sync: SyncStatus | None = None
    """How its ref's syncs went; None when none was ever asked for (or not looked up)."""
    next_sync_at: str | None = None
    """When the schedule syncs it next; None without a schedule (or not looked up)."""


def _not_indexed(repository: str) -> NotFound:
    return NotFound(f"repository {repository!r} is not indexed")


async def _entries(manifests: ManifestStore, repository: str, collection: str | None) -> list[IndexedRepository]:
    return [IndexedRepository(c, m) for c, m in await manifests.entries(collection) if m.repository == repository]


async def _with_sync(
    entries: list[IndexedRepository], ledger: SyncLedger | None, collection: str | None
) -> list[IndexedRepository]:
    """The entries with the sync status of their refs, when a ledger is given."""
    if ledger is None or not entries:
        return entries
    statuses = await ledger.statuses(collection)
    synced = []
    for entry in entries:
        status = statuses.get(sync_key(entry.collection, entry.manifest))
        synced.append(IndexedRepository(entry.collection, entry.manifest, status, ledger.next_sync_at(status)))
    return synced


class ListRepositories:
    """Every indexed repository, with the sync status of its ref when given the `ledger`."""

    def __init__(self, manifests: ManifestStore, ledger: SyncLedger | None = None) -> None:
        self._manifests = manifests
        self._ledger = ledger

    async def execute(self, collection: str | None = None) -> list[IndexedRepository]:
        entries = [IndexedRepository(c, m) for c, m in await self._manifests.entries(collection)]
        return await _with_sync(entries, self._ledger, collection)


@dataclass(frozen=True)
class RepositoryMatch:
    entry: IndexedRepository
    score: float


class ResolveRepository:
    """From a loose name ("fastapi", "hatchet python sdk") to indexed repositories, best first."""

    def __init__(self, manifests: ManifestStore) -> None:
        self._manifests = manifests

    async def execute(self, name: str, limit: int = 5) -> list[RepositoryMatch]:
        if not name.strip():
            raise InvalidInput("the name to resolve is empty")
        entries = [IndexedRepository(c, m) for c, m in await self._manifests.entries()]
        names = {n: (e.manifest.repository, e.manifest.source, e.manifest.web_url) for n, e in enumerate(entries)}
        return [RepositoryMatch(entries[n], score) for n, score in rank_by_name(name, names)[:limit]]


class GetRepository:
    """A repository's entry in every collection that holds it, with sync statuses like ListRepositories."""

    def __init__(self, manifests: ManifestStore, ledger: SyncLedger | None = None) -> None:
        self._manifests = manifests
        self._ledger = ledger

    async def execute(self, repository: str) -> list[IndexedRepository]:
        found = await _entries(self._manifests, repository, None)
        if not found:
            raise _not_indexed(repository)
        return await _with_sync(found, self._ledger, None)


class ForgetRepository:
    """Remove a repository from every collection (or one): manifests first, then every chunk of it.

    Chunks are found by the repository they belong to, not by the manifest, so what a
    cancelled or failed job wrote goes too, even when no index of the repository ever finished.
    Returns the forgotten manifests; a repository with neither manifests nor chunks is not found.
    The sync statuses of its refs go too, so indexing it again starts without old failures.
    """

    def __init__(self, manifests: ManifestStore, index: VectorIndex, statuses: SyncStatusStore | None = None) -> None:
        self._manifests = manifests
        self._index = index
        self._statuses = statuses

    async def execute(self, repository: str, collection: str | None = None) -> list[IndexedRepository]:
        found = await _entries(self._manifests, repository, collection)
        for entry in found:
            await self._manifests.delete(entry.collection, repository)
        await self._forget_statuses(repository, collection)
        names = [validate_collection(collection)] if collection else await self._index.collections()
        chunks = [await self._delete_chunks(name, repository) for name in names]
        if not found and not any(chunks):
            raise _not_indexed(repository)
        return found

    async def _forget_statuses(self, repository: str, collection: str | None) -> None:
        if self._statuses is None:
            return
        for status in await self._statuses.entries(collection):
            if status.repository == repository:
                await self._statuses.delete(status.key)

    async def _delete_chunks(self, collection: str, repository: str) -> int:
        stored = await self._index.stored_chunks(collection, repository)
        await self._index.delete(collection, [chunk.id for chunk in stored])
        return len(stored)
