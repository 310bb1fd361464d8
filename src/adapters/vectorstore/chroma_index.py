"""ChromaVectorIndex: chunks and their vectors in Chroma collections (cosine space)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.errors import NotFoundError

from adapters.cosine import cosine_similarities
from adapters.disk_reserve import DiskReserve
from adapters.keyword.chunk_reader import KeywordChunk, StoredVector
from adapters.vectorstore.chroma_client import call_chroma
from application.ports.stores import StoredChunk, VectorIndex, VectorQuery
from domain.chunking import embedding_text
from domain.content_keys import content_key
from domain.documents import Chunk
from domain.errors import Conflict
from domain.keywords import keyword_terms

WRITE_BATCH = 1000
"""Chroma caps how many records one call may carry; stay well below."""
READ_PAGE = 5000
"""Records per page when listing a repository's chunks."""
VERSIONS_PER_READ = 500
"""Blob SHAs per `$in` filter when reading the chunks of chosen file versions."""
VECTORS_PER_READ = 500
"""Vectors per read for the keyword index: Chroma holds the GIL while it hands them over, about 15 ms for 500
against 70 ms for a page of 5,000 read with its vectors, and the event loop waits meanwhile."""
KEYS_PER_READ = 500
"""Content keys per `$in` filter when looking up stored vectors by content."""
T = TypeVar("T")
KEYWORD_TERMS = "keyword_terms"
"""The metadata field holding a chunk's keyword terms (`domain.keywords`), so no reader recomputes them."""


class ChromaVectorIndex(VectorIndex):
    def __init__(self, client: ClientAPI, reserve: DiskReserve | None = None, keyword_vectors: bool = True) -> None:
        """`reserve`: the room writes leave free on the data folder's disk (embedded Chroma; a server keeps its own).
        `keyword_vectors`: whether `keyword_chunks` reads each chunk's vector too."""
        self._client = client
        self._reserve = reserve
        self._keyword_vectors = keyword_vectors
        self._collections: dict[str, Collection] = {}

    def _open(self, name: str, embedder: str | None, create: bool) -> Collection | None:
        """The collection, checked to hold vectors of `embedder`; None when it does not exist.

        Only writes create collections, so every collection is labelled with its embedder.
        """
        collection = self._collections.get(name)
        if collection is None:
            try:
                collection = self._client.get_collection(name, embedding_function=None)
            except NotFoundError:
                if not create:
                    return None
                collection = self._client.get_or_create_collection(
                    name,
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata={"embedder": embedder},
                    embedding_function=None,
                )
            self._collections[name] = collection
        stored = (collection.metadata or {}).get("embedder")
        if embedder and stored and stored != embedder:
            raise Conflict(
                f"collection {name!r} holds vectors of the embedder {stored!r}, not {embedder!r}: "
                f"set REPOCHAT_EMBEDDINGS to match, or use another collection"
            )
        return collection

    async def upsert(
        self, collection: str, embedder: str, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]
    ) -> None:
        def write() -> None:
            if self._reserve is not None:
                self._reserve.check()
            target = self._open(collection, embedder, create=True)
            assert target is not None
            for start in range(0, len(chunks), WRITE_BATCH):
                batch = chunks[start : start + WRITE_BATCH]
                target.upsert(
                    ids=[c.id for c in batch],
                    embeddings=np.asarray(vectors[start : start + WRITE_BATCH], dtype=np.float32),
                    documents=[c.text for c in batch],
                    metadatas=[_metadata(c) for c in batch],
                )

        await call_chroma("store chunks", write)

    async def existing_ids(self, collection: str, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()

        def find() -> set[str]:
            target = self._open(collection, None, create=False)
            found: set[str] = set()
            if target is None:
                return found
            for start in range(0, len(ids), WRITE_BATCH):
                found.update(target.get(ids=list(ids[start : start + WRITE_BATCH]), include=[])["ids"])
            return found

        return await call_chroma("look up chunks", find)

    async def query(self, query: VectorQuery) -> list[tuple[str, float]]:
        def search() -> list[tuple[str, float]]:
            target = self._open(query.collection, query.embedder, create=False)
            empty = [given for given in (query.repositories, query.blob_shas) if given is not None and not given]
            if target is None or empty:  # Chroma refuses an empty `$in`
                return []
            result = target.query(
                query_embeddings=np.asarray([query.vector], dtype=np.float32),
                n_results=query.k,
                where=_where(query.repositories, query.blob_shas),
                include=["distances"],
            )
            distances = (result["distances"] or [[]])[0]
            return [(i, 1.0 - float(d)) for i, d in zip(result["ids"][0], distances, strict=True)]

        return await call_chroma("search", search)

    async def delete(self, collection: str, ids: Sequence[str]) -> None:
        if not ids:
            return

        def remove() -> None:
            target = self._open(collection, None, create=False)
            if target is None:
                return
            for start in range(0, len(ids), WRITE_BATCH):
                target.delete(ids=list(ids[start : start + WRITE_BATCH]))

        await call_chroma("delete chunks", remove)

    async def stored_chunks(self, collection: str, repository: str) -> list[StoredChunk]:
        def list_chunks() -> list[StoredChunk]:
            target = self._open(collection, None, create=False)
            chunks: list[StoredChunk] = []
            while target is not None:
                page = target.get(
                    where={"repository": repository}, include=["metadatas"], limit=READ_PAGE, offset=len(chunks)
                )
                metadatas = page["metadatas"] or []
                chunks.extend(
                    StoredChunk(i, str(m["path"]), str(m["blob_sha"]))
                    for i, m in zip(page["ids"], metadatas, strict=True)
                )
                if len(page["ids"]) < READ_PAGE:
                    break
            return chunks

        return await call_chroma("list a repository's chunks", list_chunks)

    async def chunks(self, collection: str, repository: str, blob_shas: Iterable[str] | None = None) -> list[Chunk]:
        """The stored chunks (with their text) of `repository`, of file versions in `blob_shas` only when given."""
        return await self._read(
            collection, repository, blob_shas, lambda i, text, metadata, _: _chunk(i, text, metadata)
        )

    async def keyword_chunks(
        self, collection: str, repository: str, blob_shas: Iterable[str] | None = None
    ) -> list[KeywordChunk]:
        """`chunks`, each with the keyword terms stored beside it when it was written and (`keyword_vectors`) its
        vector: what the keyword index (`adapters.keyword`) reads, not a use case. Chunks written before the
        terms were stored get them computed here."""
        return await self._read(collection, repository, blob_shas, _keyword_chunk, self._keyword_vectors)

    async def _read(
        self,
        collection: str,
        repository: str,
        blob_shas: Iterable[str] | None,
        record: Callable[[str, str, Any, StoredVector | None], T],
        vectors: bool = False,
    ) -> list[T]:
        """`record(id, document, metadata, vector)` of each stored chunk of `repository`, of `blob_shas` only
        when given (its vector only when `vectors`, else None), built in Chroma's thread (a catch-up reads
        hundreds of thousands)."""
        groups = [None] if blob_shas is None else _groups(sorted(blob_shas), VERSIONS_PER_READ)

        def read() -> list[T]:
            target = self._open(collection, None, create=False)
            records: list[T] = []
            for group in groups if target is not None else []:
                assert target is not None
                embedder = str((target.metadata or {}).get("embedder") or "")
                where, read_before = _where([repository], group), len(records)
                while True:
                    offset = len(records) - read_before
                    page = target.get(where=where, include=["documents", "metadatas"], limit=READ_PAGE, offset=offset)
                    documents = page["documents"] or []
                    metadatas = page["metadatas"] or []
                    stored = _vectors(target, embedder, page["ids"]) if vectors else [None] * len(page["ids"])
                    records.extend(
                        record(i, d or "", m, v)
                        for i, d, m, v in zip(page["ids"], documents, metadatas, stored, strict=True)
                    )
                    if len(page["ids"]) < READ_PAGE:
                        break
            return records

        return await call_chroma("read a repository's chunks", read)

    async def collections(self) -> list[str]:
        def names() -> list[str]:
            # Every collection repochat writes chunks to is labelled with its embedder (the manifests' is not).
            return sorted(c.name for c in self._client.list_collections() if (c.metadata or {}).get("embedder"))

        return await call_chroma("list collections", names)

    async def ping(self) -> None:
        """UpstreamUnavailable when Chroma cannot be reached (the readiness checks of the server and workers)."""
        await call_chroma("answer a heartbeat", self._client.heartbeat)

    async def similarities(
        self, collection: str, embedder: str, vector: Sequence[float], ids: Iterable[str]
    ) -> dict[str, float]:
        wanted = list(ids)
        if not wanted:
            return {}

        def read() -> dict[str, float]:
            target = self._open(collection, embedder, create=False)
            if target is None:
                return {}
            found = target.get(ids=wanted, include=["embeddings"])
            if not found["ids"]:
                return {}
            stored = np.asarray(found["embeddings"], dtype=np.float32).reshape(len(found["ids"]), -1)
            return dict(zip(found["ids"], cosine_similarities(stored, vector), strict=True))

        return await call_chroma("score chunks", read)

    async def vectors_by_content(self, collection: str, embedder: str, keys: Iterable[str]) -> dict[str, list[float]]:
        groups = _groups(sorted(keys), KEYS_PER_READ)

        def read() -> dict[str, list[float]]:
            target = self._open(collection, embedder, create=False)
            found: dict[str, list[float]] = {}
            for group in groups if target is not None else []:
                assert target is not None
                where: Any = {"content_key": {"$in": group}}
                page = target.get(where=where, include=["embeddings", "metadatas"])
                vectors = page["embeddings"] if page["embeddings"] is not None else []
                for metadata, vector in zip(page["metadatas"] or [], vectors, strict=True):
                    found.setdefault(str(metadata["content_key"]), np.asarray(vector, dtype=np.float32).tolist())
            return found

        return await call_chroma("look up vectors by content", read)


def _groups(items: list[str], size: int) -> list[list[str] | None]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _where(repositories: Iterable[str] | None, blob_shas: Iterable[str] | None) -> Any:
    """Chroma's metadata filter: chunks of `repositories`, of file versions among `blob_shas` (None: any)."""
    clauses: list[dict[str, Any]] = []
    if repositories is not None:
        clauses.append({"repository": {"$in": sorted(repositories)}})
    if blob_shas is not None:
        clauses.append({"blob_sha": {"$in": sorted(blob_shas)}})
    if len(clauses) > 1:
        return {"$and": clauses}
    return clauses[0] if clauses else None


def _metadata(chunk: Chunk) -> dict[str, str | int]:
    metadata: dict[str, str | int] = {
        "repository": chunk.repository,
        "path": chunk.path,
        "blob_sha": chunk.blob_sha,
        "commit": chunk.commit,
        "ordinal": chunk.ordinal,
        "start_line": chunk.start_line,
        "end_line": chunk.end_line,
        "headings": json.dumps(list(chunk.headings)),
        "content_key": content_key(chunk),
        KEYWORD_TERMS: _terms(chunk),
    }
    if chunk.search_text:
        metadata["search_text"] = chunk.search_text  # the text without markup, when it differs
    return metadata


def _terms(chunk: Chunk) -> str:
    """The chunk's keyword terms, space-separated: computed once, when the chunk is written."""
    return " ".join(keyword_terms(embedding_text(chunk)))


def _keyword_chunk(chunk_id: str, text: str, metadata: Any, vector: StoredVector | None) -> KeywordChunk:
    """The chunk with its stored terms, or with terms computed now when it was written without them."""
    chunk, stored_terms = _chunk(chunk_id, text, metadata), metadata.get(KEYWORD_TERMS)
    return KeywordChunk(chunk, _terms(chunk) if stored_terms is None else str(stored_terms), vector)


def _vectors(target: Collection, embedder: str, ids: list[str]) -> list[StoredVector | None]:
    """The stored vector of each of `ids` as float32 bytes, labelled with the collection's embedder (None for a
    chunk deleted meanwhile), read VECTORS_PER_READ at a time."""
    found: dict[str, StoredVector] = {}
    for start in range(0, len(ids), VECTORS_PER_READ):
        page = target.get(ids=ids[start : start + VECTORS_PER_READ], include=["embeddings"])
        rows = np.asarray(page["embeddings"], dtype=np.float32)
        found.update((i, StoredVector(embedder, row.tobytes())) for i, row in zip(page["ids"], rows, strict=True))
    return [found.get(i) for i in ids]


def _chunk(chunk_id: str, text: str, metadata: Any) -> Chunk:
    return Chunk(
        id=chunk_id,
        repository=str(metadata["repository"]),
        path=str(metadata["path"]),
        blob_sha=str(metadata["blob_sha"]),
        commit=str(metadata["commit"]),
        ordinal=int(metadata["ordinal"]),
        text=text,
        start_line=int(metadata["start_line"]),
        end_line=int(metadata["end_line"]),
        headings=tuple(json.loads(str(metadata.get("headings") or "[]"))),
        search_text=str(metadata.get("search_text") or ""),
    )
