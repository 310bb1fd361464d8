"""Ports: where chunks, manifests and sync statuses are kept, and the keyword index over them."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.answers import SearchHit
from domain.documents import Chunk, Manifest
from domain.sync import SyncKey, SyncStatus


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as the index keeps it: enough to tell whether a manifest still names its file version."""

    id: str
    path: str
    blob_sha: str


@dataclass(frozen=True)
class VectorQuery:
    collection: str
    embedder: str
    vector: Sequence[float]
    k: int
    repositories: Collection[str] | None = None
    """Chunks of these repository ids only; None: of every repository."""
    blob_shas: Collection[str] | None = None
    """Chunks of these file versions only; None: of every version."""


class VectorIndex(Protocol):
    """Chunks and their vectors, grouped in named collections: what the use cases ask of them.

    The adapter offers more to whom needs it: the keyword index reads the chunks' text through it,
    and the readiness checks ping it."""

    async def upsert(
        self, collection: str, embedder: str, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]
    ) -> None: ...

    async def existing_ids(self, collection: str, ids: Sequence[str]) -> set[str]: ...

    async def query(self, query: VectorQuery) -> list[tuple[str, float]]:
        """The ids of the `query.k` nearest chunks of the repositories and file versions it names, with their
        cosine similarity, nearest first. Ids only: reading a stored chunk costs several times finding it,
        and most candidates are dropped (not live, or ranked out), so their chunks are read from the
        keyword index (`KeywordIndex.chunks`), which holds every live one."""
        ...

    async def delete(self, collection: str, ids: Sequence[str]) -> None: ...

    async def stored_chunks(self, collection: str, repository: str) -> list[StoredChunk]:
        """Every chunk of `repository` in `collection`, live or not (an unfinished job's too)."""
        ...

    async def collections(self) -> list[str]:
        """The names of the collections that hold chunks."""
        ...

    async def similarities(
        self, collection: str, embedder: str, vector: Sequence[float], ids: Collection[str]
    ) -> dict[str, float]:
        """The cosine similarity of `vector` and each stored chunk of `ids` (ids not stored are left out)."""
        ...

    async def vectors_by_content(self, collection: str, embedder: str, keys: Collection[str]) -> dict[str, list[float]]:
        """A stored vector for each of `keys` (`domain.content_keys`) that a stored chunk has, of any repository.

        `upsert` records each chunk's content key, trusting that its vector is the embedder's for
        `embedding_text(chunk)`; keys no stored chunk has are left out.
        """
        ...


Terms = Mapping[str, float]
"""A keyword query: each term with its weight."""


@dataclass(frozen=True)
class QueryVector:
    """A query's vector and the embedder that made it."""

    embedder: str
    values: Sequence[float]


class KeywordIndex(Protocol):
    """BM25 over the terms of stored chunks, for the keyword leg of search; and the copy of the live chunks
    the dense leg reads its candidates from."""

    async def query(
        self, collection: str, terms: Terms, k: int, live: Mapping[str, Manifest], scored_by: QueryVector | None = None
    ) -> list[SearchHit]:
        """The k best chunks for `terms` (term -> weight), of the file versions `live` (repository -> manifest)
        names only.

        `live` holds one manifest per repository, at whichever of its refs is searched: the next query
        may pass another ref's manifest of the same repository, and must not cost a rebuild.
        With `scored_by`, a hit whose vector of that embedder the index holds has its cosine similarity to
        it as `similarity` (as `VectorIndex.similarities` gives it); the others have None.
        """
        ...

    async def chunks(
        self, collection: str, ids: Collection[str], live: Mapping[str, Manifest], terms: Terms | None = None
    ) -> dict[str, tuple[Chunk, float | None]]:
        """The chunks of `ids` that the index holds, by id, each with its BM25 for `terms` as `query` scores it
        (None: no term matches it, or no terms), after catching up with `live` as `query` does: every chunk of
        the file versions `live` names is held; others may be (another ref's) or not (a job's before its swap)."""
        ...

    async def retain(self, collection: str, indexed: Collection[tuple[str, str | None]]) -> None:
        """Drop the chunks of every ref (and repository) that has no manifest in `collection` any more.

        `indexed`: each (repository, ref) with a manifest in the collection, all of them (none when the
        collection is gone). A forgotten repository or ref leaves the index here, in every replica.
        """
        ...


class ManifestStore(Protocol):
    """The live version of each indexed ref of each repository per collection; `save` is the atomic swap.

    A manifest is keyed by (collection, repository, ref), `ref` as `domain.refs.normalize_ref` gives
    it (None: the default branch), so each ref of a repository swaps independently.
    """

    async def get(self, collection: str, repository: str, ref: str | None) -> Manifest | None: ...

    async def save(self, collection: str, manifest: Manifest) -> None:
        """Replace the manifest of (collection, manifest.repository, manifest.ref)."""
        ...

    async def delete(self, collection: str, repository: str, ref: str | None) -> None: ...

    async def entries(self, collection: str | None = None) -> list[tuple[str, Manifest]]:
        """(collection, manifest) pairs, of one collection or all: one per indexed ref, sorted by
        repository, then collection, then ref (the default branch first)."""
        ...


class SyncStatusStore(Protocol):
    """The sync status of each indexed ref (domain.sync), where every API replica and worker sees it."""

    async def get(self, key: SyncKey) -> SyncStatus | None: ...

    async def save(self, status: SyncStatus) -> None: ...

    async def delete(self, key: SyncKey) -> None: ...

    async def entries(self, collection: str | None = None) -> list[SyncStatus]:
        """The statuses of one collection's refs, or of all."""
        ...


class DeliveryLog(Protocol):
    """The webhook deliveries handled lately (by id), where every API replica sees them."""

    async def handled_at(self, delivery: str) -> datetime | None:
        """When `delivery` was handled, if it is still remembered."""
        ...

    async def record(self, delivery: str, at: datetime, forget_before: datetime) -> None:
        """Remember `delivery` as handled `at`, and forget the deliveries handled before `forget_before`."""
        ...
