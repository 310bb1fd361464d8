"""ChromaKeyStore: the API keys, one record each in a reserved collection of the Chroma repochat uses.

Kept beside the manifests and sync statuses for the same reason: every API replica and worker
sharing a Chroma server (or the one process owning an embedded data folder) sees the same keys,
with no other store to run. A record's id is the key's name; its document the StoredKey as JSON
(the key's SHA-256, never the key); its metadata repeats the hash, to find a key by it.
"""

from __future__ import annotations

from chromadb.api import ClientAPI

from adapters.domain_json import STORED_KEY
from adapters.vectorstore.chroma_client import RECORD_VECTOR, ReservedCollection, call_chroma
from application.ports.access import KeyStore, StoredKey
from domain.collections import API_KEY_COLLECTION
from domain.errors import Conflict, NotFound


class ChromaKeyStore(KeyStore):
    def __init__(self, client: ClientAPI) -> None:
        self._collection = ReservedCollection(client, API_KEY_COLLECTION)

    async def find(self, key_hash: str) -> StoredKey | None:
        def read() -> StoredKey | None:
            found = self._collection().get(where={"key_hash": key_hash}, include=["documents"])
            documents = [document for document in found["documents"] or [] if document]
            return STORED_KEY.loads(documents[0]) if documents else None

        return await call_chroma("find an API key", read)

    async def add(self, key: StoredKey) -> None:
        def write() -> None:
            collection = self._collection()
            if collection.get(ids=[key.name], include=[])["ids"]:
                raise Conflict(f"a key named {key.name!r} exists: revoke it first, or choose another name")
            collection.add(
                ids=[key.name],
                embeddings=RECORD_VECTOR,
                documents=[STORED_KEY.dumps(key)],
                metadatas=[{"key_hash": key.key_hash}],
            )

        await call_chroma("add an API key", write)

    async def all(self) -> list[StoredKey]:
        def read() -> list[StoredKey]:
            found = self._collection().get(include=["documents"])
            keys = [STORED_KEY.loads(document) for document in found["documents"] or [] if document]
            return sorted(keys, key=lambda key: key.name)

        return await call_chroma("list the API keys", read)

    async def revoke(self, name: str) -> None:
        def delete() -> None:
            collection = self._collection()
            if not collection.get(ids=[name], include=[])["ids"]:
                raise NotFound(f"no key is named {name!r}: `repochat keys list` shows their names")
            collection.delete(ids=[name])

        await call_chroma("revoke an API key", delete)
