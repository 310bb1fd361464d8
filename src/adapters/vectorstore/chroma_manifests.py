"""ChromaManifestStore: the live manifest of each repository, one record of a reserved collection."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection

from adapters.domain_json import MANIFEST
from adapters.vectorstore.chroma_client import call_chroma
from application.ports import ManifestStore
from domain.collections import MANIFEST_COLLECTION
from domain.documents import Manifest


class ChromaManifestStore(ManifestStore):
    """Each manifest is one record of a reserved collection, so saving it is one atomic upsert.

    Keeping manifests in Chroma (not a local file) means every API replica and worker that
    shares a Chroma server sees the same live versions.
    """

    def __init__(self, client: ClientAPI) -> None:
        self._client = client
        self._store: Collection | None = None
        self._cache: dict[str, tuple[str, Manifest]] = {}
        """record id -> (stamp, manifest) of manifests read before."""

    def _collection(self) -> Collection:
        if self._store is None:
            self._store = self._client.get_or_create_collection(MANIFEST_COLLECTION, embedding_function=None)
        return self._store

    async def get(self, collection: str, repository: str) -> Manifest | None:
        def read() -> Manifest | None:
            found = self._read(ids=[_record_id(collection, repository)])
            return found[0][1] if found else None

        return await call_chroma("read a manifest", read)

    async def save(self, collection: str, manifest: Manifest) -> None:
        document = MANIFEST.dumps(manifest)
        metadata = {"collection": collection, "repository": manifest.repository, "stamp": _stamp(document)}

        def write() -> None:
            self._collection().upsert(
                ids=[_record_id(collection, manifest.repository)],
                embeddings=np.ones((1, 1), dtype=np.float32),
                documents=[document],
                metadatas=[metadata],
            )

        await call_chroma("save a manifest", write)

    async def delete(self, collection: str, repository: str) -> None:
        record = _record_id(collection, repository)
        await call_chroma("delete a manifest", lambda: self._collection().delete(ids=[record]))
        self._cache.pop(record, None)

    async def entries(self, collection: str | None = None) -> list[tuple[str, Manifest]]:
        def read() -> list[tuple[str, Manifest]]:
            return sorted(self._read(where={"collection": collection} if collection else None), key=_list_key)

        return await call_chroma("list manifests", read)

    def _read(self, ids: list[str] | None = None, where: Any = None) -> list[tuple[str, Manifest]]:
        """(collection, manifest) of the records asked for, parsing only those whose stamp is new.

        Listing stamps reads metadata only, so a search that finds every manifest unchanged costs
        one small read however many files the repositories hold.
        """
        store = self._collection()
        listed = store.get(ids=ids, where=where, include=["metadatas"])
        stale = [i for i, m in zip(listed["ids"], listed["metadatas"] or [], strict=True) if not self._fresh(i, m)]
        if stale:
            found = store.get(ids=stale, include=["documents", "metadatas"])
            for record, document, metadata in zip(
                found["ids"], found["documents"] or [], found["metadatas"] or [], strict=True
            ):
                if document:
                    self._cache[record] = (str(metadata.get("stamp") or ""), MANIFEST.loads(document))
        pairs: list[tuple[str, Manifest]] = []
        for record, metadata in zip(listed["ids"], listed["metadatas"] or [], strict=True):
            cached = self._cache.get(record)
            if cached is not None:
                pairs.append((str(metadata["collection"]), cached[1]))
        return pairs

    def _fresh(self, record: str, metadata: Any) -> bool:
        stamp = metadata.get("stamp") if metadata else None
        cached = self._cache.get(record)
        return bool(stamp) and cached is not None and cached[0] == stamp


def _stamp(document: str) -> str:
    """Identifies one saved version of a manifest (records saved before stamps existed have none)."""
    return hashlib.sha256(document.encode()).hexdigest()[:16]


def _list_key(pair: tuple[str, Manifest]) -> tuple[str, str]:
    return pair[1].repository, pair[0]


def _record_id(collection: str, repository: str) -> str:
    return f"{collection}::{repository}"
