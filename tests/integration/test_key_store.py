"""ChromaKeyStore on embedded Chroma and on a real `chroma run` server: keys by name, found by hash, never kept
as the key itself, apart from the collections listed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from chromadb.api import ClientAPI

from adapters.keys.chroma_key_store import ChromaKeyStore
from adapters.vectorstore.chroma_index import ChromaVectorIndex
from application.keys import CreateKey
from application.ports.access import StoredKey
from domain.access import Role, Scope, key_hash
from domain.errors import Conflict, NotFound


@pytest.fixture
async def store(chroma_client: ClientAPI) -> AsyncIterator[ChromaKeyStore]:
    """The store; the keys a test leaves are revoked after it: a key left on the shared Chroma server would
    make the other tests' servers ask for keys."""
    store = ChromaKeyStore(chroma_client)
    before = {key.name for key in await store.all()}
    yield store
    for key in await store.all():
        if key.name not in before:
            await store.revoke(key.name)


async def test_keys_are_added_found_by_hash_listed_and_revoked(store: ChromaKeyStore) -> None:
    name = f"team-{uuid.uuid4().hex[:8]}"
    created = await CreateKey(store).execute(name, Role.INDEX, Scope(("docs", "api"), ("acme/*",)))

    assert await store.find(key_hash(created.key)) == created.stored
    assert await store.find(key_hash(created.key + "x")) is None
    assert created.stored in await store.all()
    with pytest.raises(Conflict):
        await store.add(StoredKey(name, Role.ADMIN, Scope(), key_hash("another")))
    assert await store.find(key_hash("another")) is None

    assert await store.revoke(name) == created.stored
    assert await store.find(key_hash(created.key)) is None
    assert name not in [key.name for key in await store.all()]
    with pytest.raises(NotFound):
        await store.revoke(name)


async def test_the_key_itself_is_stored_nowhere_and_its_collection_is_not_listed(
    chroma_client: ClientAPI, store: ChromaKeyStore
) -> None:
    created = await CreateKey(store).execute(f"team-{uuid.uuid4().hex[:8]}", Role.READ)

    record = chroma_client.get_collection("repochat-api-keys").get(include=["documents", "metadatas"])
    assert created.key not in repr(record) and created.stored.key_hash in repr(record)
    assert "repochat-api-keys" not in await ChromaVectorIndex(chroma_client).collections()
