"""ChromaManifestStore: the live manifest of each repository, one record of a reserved collection."""

from __future__ import annotations

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

    def _collection(self) -> Collection:
        if self._store is None:
            self._store = self._client.get_or_create_collection(MANIFEST_COLLECTION, embedding_function=None)
        return self._store

    async def get(self, collection: str, repository: str) -> Manifest | None:
        def read() -> Manifest | None:
            found = self._collection().get(ids=[_record_id(collection, repository)], include=["documents"])
            documents = found["documents"] or []
            return MANIFEST.loads(documents[0]) if documents and documents[0] else None

        return await call_chroma("read a manifest", read)

    async def save(self, collection: str, manifest: Manifest) -> None:
        def write() -> None:
            self._collection().upsert(
                ids=[_record_id(collection, manifest.repository)],
                embeddings=np.ones((1, 1), dtype=np.float32),
                documents=[MANIFEST.dumps(manifest)],
                metadatas=[{"collection": collection, "repository": manifest.repository}],
            )

        await call_chroma("save a manifest", write)

    async def delete(self, collection: str, repository: str) -> None:
        await call_chroma(
            "delete a manifest", lambda: self._collection().delete(ids=[_record_id(collection, repository)])
        )

    async def entries(self, collection: str | None = None) -> list[tuple[str, Manifest]]:
        def read() -> list[tuple[str, Manifest]]:
            where: Any = {"collection": collection} if collection else None
            found = self._collection().get(where=where, include=["documents", "metadatas"])
            pairs = zip(found["metadatas"] or [], found["documents"] or [], strict=True)
            return sorted(((str(m["collection"]), MANIFEST.loads(d)) for m, d in pairs if d), key=_list_key)

        return await call_chroma("list manifests", read)


def _list_key(pair: tuple[str, Manifest]) -> tuple[str, str]:
    return pair[1].repository, pair[0]


def _record_id(collection: str, repository: str) -> str:
    return f"{collection}::{repository}"
