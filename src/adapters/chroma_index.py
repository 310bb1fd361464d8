"""Chroma adapters: the vector index and the manifest store, embedded or over HTTP.

chromadb's client is blocking, so every call runs in a worker thread. Vectors are always
passed in: Chroma's default embedding function downloads a model at run time, and we
never let it run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any, TypeVar

import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.errors import NotFoundError

from application.ports import ManifestStore, VectorIndex
from domain.answers import SearchHit
from domain.collections import MANIFEST_COLLECTION
from domain.documents import Chunk, Manifest
from domain.errors import Conflict, RepochatError, UpstreamUnavailable

T = TypeVar("T")
WRITE_BATCH = 1000
"""Chroma caps how many records one call may carry; stay well below."""


async def _call(action: str, function: Callable[[], T]) -> T:
    try:
        return await asyncio.to_thread(function)
    except RepochatError:
        raise
    except Exception as e:
        raise UpstreamUnavailable(f"Chroma failed to {action}: {type(e).__name__}: {e}") from e


class ChromaVectorIndex(VectorIndex):
    def __init__(self, client: ClientAPI) -> None:
        self._client = client
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

        await _call("store chunks", write)

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

        return await _call("look up chunks", find)

    async def query(
        self, collection: str, embedder: str, vector: Sequence[float], k: int, repository: str | None = None
    ) -> list[SearchHit]:
        def search() -> list[SearchHit]:
            target = self._open(collection, embedder, create=False)
            if target is None:
                return []
            where: Any = {"repository": repository} if repository else None
            result = target.query(
                query_embeddings=np.asarray([vector], dtype=np.float32),
                n_results=k,
                where=where,
                include=["documents", "metadatas", "distances"],
            )
            ids = result["ids"][0]
            documents = (result["documents"] or [[]])[0]
            metadatas = (result["metadatas"] or [[]])[0]
            distances = (result["distances"] or [[]])[0]
            return [
                SearchHit(_chunk(i, d or "", m), 1.0 - float(dist))
                for i, d, m, dist in zip(ids, documents, metadatas, distances, strict=True)
            ]

        return await _call("search", search)

    async def delete(self, collection: str, ids: Sequence[str]) -> None:
        if not ids:
            return

        def remove() -> None:
            target = self._open(collection, None, create=False)
            if target is None:
                return
            for start in range(0, len(ids), WRITE_BATCH):
                target.delete(ids=list(ids[start : start + WRITE_BATCH]))

        await _call("delete chunks", remove)

    async def collections(self) -> list[str]:
        names = await _call("list collections", lambda: [c.name for c in self._client.list_collections()])
        return sorted(n for n in names if n != MANIFEST_COLLECTION)

    async def ping(self) -> None:
        await _call("answer a heartbeat", self._client.heartbeat)


def _metadata(chunk: Chunk) -> dict[str, str | int]:
    return {
        "repository": chunk.repository,
        "path": chunk.path,
        "blob_sha": chunk.blob_sha,
        "commit": chunk.commit,
        "ordinal": chunk.ordinal,
        "start_line": chunk.start_line,
        "end_line": chunk.end_line,
        "headings": json.dumps(list(chunk.headings)),
    }


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
    )


class ChromaManifestStore(ManifestStore):
    """Each manifest is one record of a reserved collection, so saving it is one atomic upsert.

    Keeping manifests in Chroma (not a local file) means every API replica and worker that
    shares a Chroma server sees the same live versions.
    """

    def __init__(self, client: ClientAPI) -> None:
        self._client = client
        self._store: Collection | None = None

    def _collection(self) -> Collection:
        if self._store is None:
            self._store = self._client.get_or_create_collection(MANIFEST_COLLECTION, embedding_function=None)
        return self._store

    async def get(self, collection: str, repository: str) -> Manifest | None:
        def read() -> Manifest | None:
            found = self._collection().get(ids=[_record_id(collection, repository)], include=["documents"])
            documents = found["documents"] or []
            return _decode(documents[0]) if documents and documents[0] else None

        return await _call("read a manifest", read)

    async def save(self, collection: str, manifest: Manifest) -> None:
        def write() -> None:
            self._collection().upsert(
                ids=[_record_id(collection, manifest.repository)],
                embeddings=np.ones((1, 1), dtype=np.float32),
                documents=[json.dumps(asdict(manifest))],
                metadatas=[{"collection": collection, "repository": manifest.repository}],
            )

        await _call("save a manifest", write)

    async def delete(self, collection: str, repository: str) -> None:
        await _call("delete a manifest", lambda: self._collection().delete(ids=[_record_id(collection, repository)]))

    async def entries(self, collection: str | None = None) -> list[tuple[str, Manifest]]:
        def read() -> list[tuple[str, Manifest]]:
            where: Any = {"collection": collection} if collection else None
            found = self._collection().get(where=where, include=["documents", "metadatas"])
            pairs = zip(found["metadatas"] or [], found["documents"] or [], strict=True)
            return sorted(((str(m["collection"]), _decode(d)) for m, d in pairs if d), key=_list_key)

        return await _call("list manifests", read)


def _list_key(pair: tuple[str, Manifest]) -> tuple[str, str]:
    return pair[1].repository, pair[0]


def _record_id(collection: str, repository: str) -> str:
    return f"{collection}::{repository}"


def _decode(document: str) -> Manifest:
    data = json.loads(document)
    return Manifest(**{**data, "include": tuple(data.get("include", ())), "exclude": tuple(data.get("exclude", ()))})
