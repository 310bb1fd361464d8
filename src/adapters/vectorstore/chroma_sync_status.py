"""ChromaSyncStatusStore: the sync status of each indexed ref, one record of a reserved collection.

Beside the manifests and for the same reason (every API replica and worker sharing a Chroma
server sees the same records), but in a collection of its own, so listing manifests never meets
a status. A record's id is `collection::repository::ref` (the ref empty for the default branch);
its metadata repeats the three fields for filtering.
"""

from __future__ import annotations

from chromadb.api import ClientAPI
from chromadb.api.types import Where

from adapters.domain_json import SYNC_STATUS
from adapters.vectorstore.chroma_client import RECORD_VECTOR, ReservedCollection, call_chroma
from application.ports.stores import SyncStatusStore
from domain.collections import SYNC_STATUS_COLLECTION
from domain.sync import SyncKey, SyncStatus


class ChromaSyncStatusStore(SyncStatusStore):
    def __init__(self, client: ClientAPI) -> None:
        self._collection = ReservedCollection(client, SYNC_STATUS_COLLECTION)

    async def get(self, key: SyncKey) -> SyncStatus | None:
        def read() -> SyncStatus | None:
            found = self._collection().get(ids=[_record_id(key)], include=["documents"])
            documents = found["documents"] or []
            return SYNC_STATUS.loads(documents[0]) if documents and documents[0] else None

        return await call_chroma("read a sync status", read)

    async def save(self, status: SyncStatus) -> None:
        metadata = {"collection": status.collection, "repository": status.repository, "ref": status.ref or ""}

        def write() -> None:
            self._collection().upsert(
                ids=[_record_id(status.key)],
                embeddings=RECORD_VECTOR,
                documents=[SYNC_STATUS.dumps(status)],
                metadatas=[metadata],
            )

        await call_chroma("save a sync status", write)

    async def delete(self, key: SyncKey) -> None:
        record = _record_id(key)
        await call_chroma("delete a sync status", lambda: self._collection().delete(ids=[record]))

    async def entries(self, collection: str | None = None) -> list[SyncStatus]:
        def read() -> list[SyncStatus]:
            where: Where | None = {"collection": collection} if collection else None
            found = self._collection().get(where=where, include=["documents"])
            statuses = [SYNC_STATUS.loads(document) for document in found["documents"] or [] if document]
            return sorted(statuses, key=lambda s: (s.repository, s.collection, s.ref or ""))

        return await call_chroma("list sync statuses", read)


def _record_id(key: SyncKey) -> str:
    """Git refs cannot hold ':' and collection names neither, so the id names one key only."""
    return f"{key.collection}::{key.repository}::{key.ref or ''}"
