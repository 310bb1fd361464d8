"""What is indexed, and forgetting it."""

from __future__ import annotations

from dataclasses import dataclass

from application.indexing import all_chunk_ids
from application.ports import ManifestStore, VectorIndex
from domain.documents import Manifest
from domain.errors import InvalidInput, NotFound
from domain.repository_names import rank_by_name


@dataclass(frozen=True)
class IndexedRepository:
    collection: str
    manifest: Manifest


async def _find(manifests: ManifestStore, repository: str, collection: str | None) -> list[IndexedRepository]:
    found = [IndexedRepository(c, m) for c, m in await manifests.entries(collection) if m.repository == repository]
    if not found:
        raise NotFound(f"repository {repository!r} is not indexed")
    return found


class ListRepositories:
    def __init__(self, manifests: ManifestStore) -> None:
        self._manifests = manifests

    async def execute(self, collection: str | None = None) -> list[IndexedRepository]:
        return [IndexedRepository(c, m) for c, m in await self._manifests.entries(collection)]


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
    """A repository's entry in every collection that holds it."""

    def __init__(self, manifests: ManifestStore) -> None:
        self._manifests = manifests

    async def execute(self, repository: str) -> list[IndexedRepository]:
        return await _find(self._manifests, repository, None)


class ForgetRepository:
    """Remove a repository from every collection (or one): manifest first, then its chunks."""

    def __init__(self, manifests: ManifestStore, index: VectorIndex) -> None:
        self._manifests = manifests
        self._index = index

    async def execute(self, repository: str, collection: str | None = None) -> list[IndexedRepository]:
        found = await _find(self._manifests, repository, collection)
        for entry in found:
            await self._manifests.delete(entry.collection, repository)
            await self._index.delete(entry.collection, all_chunk_ids(entry.manifest))
        return found
