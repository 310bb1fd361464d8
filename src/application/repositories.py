"""What is indexed, and forgetting it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from application.access import RepositoryAccess
from application.ports.stores import ManifestStore, SyncStatusStore, VectorIndex
from application.sync import SyncLedger, sync_key
from domain.access import LOCAL_USER, Caller, Role
from domain.collections import validate_collection
from domain.documents import Manifest
from domain.errors import InvalidInput, NotFound
from domain.refs import default_manifest, names_anywhere, normalize_ref, not_indexed_at
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
    searched_by_default: bool = True
    """Whether a search that names no ref reads this ref of the repository (`domain.refs.default_manifest`)."""


def _indexed(pairs: Sequence[tuple[str, Manifest]]) -> list[IndexedRepository]:
    """The entries of (collection, manifest) pairs, each told whether it is its repository's default ref."""
    by_repository: dict[tuple[str, str], list[Manifest]] = {}
    for collection, manifest in pairs:
        by_repository.setdefault((collection, manifest.repository), []).append(manifest)
    defaults = {key: default_manifest(found) for key, found in by_repository.items()}
    return [IndexedRepository(c, m, searched_by_default=defaults[(c, m.repository)] is m) for c, m in pairs]


def _not_indexed(repository: str) -> NotFound:
    return NotFound(f"repository {repository!r} is not indexed")


async def _entries(
    manifests: ManifestStore, repository: str, collection: str | None, access: RepositoryAccess, caller: Caller
) -> list[IndexedRepository]:
    """The repository's entries the caller may see: none, as if it were not indexed, when it may not."""
    pairs = [(c, m) for c, m in await manifests.entries(collection) if m.repository == repository]
    return _indexed(await access.manifests(caller, pairs, repository))


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
        synced.append(replace(entry, sync=status, next_sync_at=ledger.next_sync_at(status)))
    return synced


class ListRepositories:
    """Every indexed repository, with the sync status of its ref when given the `ledger`."""

    def __init__(
        self, manifests: ManifestStore, ledger: SyncLedger | None = None, access: RepositoryAccess | None = None
    ) -> None:
        self._manifests = manifests
        self._ledger = ledger
        self._access = access or RepositoryAccess()

    async def execute(
        self, collection: str | None = None, caller: Caller = LOCAL_USER, named: str | None = None
    ) -> list[IndexedRepository]:
        """`named`: the one repository the caller asked about (`RepositoryAccess.keep`). InvalidInput for a
        collection name no collection can have."""
        if collection is not None:
            validate_collection(collection)
        entries = _indexed(await self._access.manifests(caller, await self._manifests.entries(collection), named))
        return await _with_sync(entries, self._ledger, collection)


@dataclass(frozen=True)
class RepositoryMatch:
    entry: IndexedRepository
    """The repository at the ref searched by default."""
    score: float
    refs: tuple[str | None, ...] = (None,)
    """Every ref of the repository indexed in the entry's collection (None: the default branch)."""


class ResolveRepository:
    """From a loose name ("fastapi", "hatchet python sdk") to indexed repositories, best first."""

    def __init__(self, manifests: ManifestStore, access: RepositoryAccess | None = None) -> None:
        self._manifests = manifests
        self._access = access or RepositoryAccess()

    async def execute(self, name: str, limit: int = 5, caller: Caller = LOCAL_USER) -> list[RepositoryMatch]:
        if not name.strip():
            raise InvalidInput("the name to resolve is empty")
        every_ref = _indexed(await self._access.manifests(caller, await self._manifests.entries()))
        entries = [entry for entry in every_ref if entry.searched_by_default]
        refs: dict[tuple[str, str], list[str | None]] = {}
        for entry in every_ref:
            refs.setdefault((entry.collection, entry.manifest.repository), []).append(entry.manifest.ref)
        names = {n: (e.manifest.repository, e.manifest.source, e.manifest.web_url) for n, e in enumerate(entries)}
        return [
            RepositoryMatch(entries[n], score, tuple(refs[(entries[n].collection, entries[n].manifest.repository)]))
            for n, score in rank_by_name(name, names)[:limit]
        ]


class GetRepository:
    """A repository's entry in every collection that holds it, with sync statuses like ListRepositories."""

    def __init__(self, listing: ListRepositories) -> None:
        self._listing = listing

    async def execute(self, repository: str, caller: Caller = LOCAL_USER) -> list[IndexedRepository]:
        found = [
            entry
            for entry in await self._listing.execute(None, caller, repository)
            if entry.manifest.repository == repository
        ]
        if not found:
            raise _not_indexed(repository)
        return found


@dataclass
class ForgetRepository:
    """Remove a repository, at every ref or at one, from every collection (or one): manifests first, then chunks.

    Forgetting every ref finds chunks by the repository they belong to, not by the manifest, so what a
    cancelled or failed job wrote goes too, even when no index of the repository ever finished; a
    repository with neither manifests nor chunks is not found. Forgetting one ref deletes only the chunks
    its manifest named that no other ref of the repository names (refs share the chunks of the file
    versions they share), so the other refs stay searchable.
    Returns the forgotten manifests. The sync statuses of the refs forgotten go too, so indexing them
    again starts without old failures.
    """

    manifests: ManifestStore
    index: VectorIndex
    statuses: SyncStatusStore | None = None
    access: RepositoryAccess = field(default_factory=RepositoryAccess)

    async def execute(
        self, repository: str, collection: str | None = None, ref: str | None = None, caller: Caller = LOCAL_USER
    ) -> list[IndexedRepository]:
        """`ref`: the one ref to forget (`HEAD`: the default branch); None forgets every ref.

        A caller needs the index role, and forgets only in the collections where it may see the repository."""
        caller.require(Role.INDEX)
        if ref is not None:
            return await self._forget_ref(repository, collection, normalize_ref(ref), caller)
        found = await _entries(self.manifests, repository, collection, self.access, caller)
        for entry in found:
            await self.manifests.delete(entry.collection, repository, entry.manifest.ref)
        await self._forget_statuses(repository, collection, caller, lambda _status: True)
        names = [validate_collection(collection)] if collection else await self.index.collections()
        names = await self.access.keep(caller, names, lambda name: (name, repository))
        chunks = [await self._delete_chunks(name, repository) for name in names]
        if not found and not any(chunks):
            raise _not_indexed(repository)
        return found

    async def _forget_ref(
        self, repository: str, collection: str | None, ref: str | None, caller: Caller
    ) -> list[IndexedRepository]:
        entries = await _entries(self.manifests, repository, collection, self.access, caller)
        found = [entry for entry in entries if entry.manifest.ref == ref]
        if not found:
            if not entries:
                raise _not_indexed(repository)
            raise not_indexed_at(f"repository {repository!r}", ref, [entry.manifest for entry in entries])
        for entry in found:
            await self.manifests.delete(entry.collection, repository, ref)
            remaining = [e.manifest for e in entries if e.collection == entry.collection and e.manifest.ref != ref]
            if remaining:
                await self.index.delete(
                    entry.collection, sorted(entry.manifest.chunk_ids() - names_anywhere(remaining))
                )
            else:
                await self._delete_chunks(entry.collection, repository)
        await self._forget_statuses(repository, collection, caller, lambda status: status.ref == ref)
        return found

    async def _forget_statuses(
        self, repository: str, collection: str | None, caller: Caller, forgotten: Callable[[SyncStatus], bool]
    ) -> None:
        if self.statuses is None:
            return
        statuses = [s for s in await self.statuses.entries(collection) if s.repository == repository]
        for status in await self.access.keep(caller, statuses, lambda s: (s.collection, s.repository)):
            if forgotten(status):
                await self.statuses.delete(status.key)

    async def _delete_chunks(self, collection: str, repository: str) -> int:
        stored = await self.index.stored_chunks(collection, repository)
        await self.index.delete(collection, [chunk.id for chunk in stored])
        return len(stored)
