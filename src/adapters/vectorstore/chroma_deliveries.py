"""ChromaDeliveryLog: the webhook deliveries handled lately, one record each in a reserved collection.

Kept beside the sync statuses and for the same reason: every API replica sharing a Chroma
server sees the same records. A record's id is the delivery's id; its metadata holds when it
was handled, in seconds since the epoch, so old records are deleted by a filter.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chromadb.api import ClientAPI

from adapters.vectorstore.chroma_client import RECORD_VECTOR, ReservedCollection, call_chroma
from application.ports.stores import DeliveryLog
from domain.collections import WEBHOOK_DELIVERY_COLLECTION


class ChromaDeliveryLog(DeliveryLog):
    def __init__(self, client: ClientAPI) -> None:
        self._collection = ReservedCollection(client, WEBHOOK_DELIVERY_COLLECTION)

    async def handled_at(self, delivery: str) -> datetime | None:
        def read() -> datetime | None:
            found = self._collection().get(ids=[delivery], include=["metadatas"])
            metadatas = found["metadatas"] or []
            at = metadatas[0].get("at") if metadatas and metadatas[0] else None
            return datetime.fromtimestamp(at, UTC) if isinstance(at, int | float) else None

        return await call_chroma("read a webhook delivery", read)

    async def record(self, delivery: str, at: datetime, forget_before: datetime) -> None:
        def write() -> None:
            collection = self._collection()
            old: Any = {"at": {"$lt": forget_before.timestamp()}}
            collection.delete(where=old)
            collection.upsert(ids=[delivery], embeddings=RECORD_VECTOR, metadatas=[{"at": at.timestamp()}])

        await call_chroma("record a webhook delivery", write)
