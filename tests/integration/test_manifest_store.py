"""ChromaManifestStore on embedded Chroma and on a real `chroma run` server: one manifest per ref, and
`migrate_chroma` moving records saved before refs side by side."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import numpy as np
from chromadb.api import ClientAPI

from adapters.data_dir_lock import DataDirLock
from adapters.domain_json import MANIFEST
from adapters.vectorstore.chroma_client import open_embedded_chroma
from adapters.vectorstore.chroma_manifests import ChromaManifestStore, generation_record_id
from adapters.vectorstore.migrations import migrate_chroma
from domain.collections import MANIFEST_COLLECTION
from domain.documents import Manifest
from entrypoints.container import Container, running
from entrypoints.settings import Settings

REPOSITORY = "acme/widgets"


def manifest(ref: str | None, commit: str = "c1", repository: str = REPOSITORY, indexed_at: str = "") -> Manifest:
    return Manifest(repository, f"github:{repository}", commit, {"a.md": commit * 8}, {"a.md": 1}, indexed_at, ref)


def collection_name() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


def save_the_old_way(client: ClientAPI, collection: str, saved: Manifest) -> None:
    """A record as repochat wrote it before refs side by side: one per (collection, repository), no ref metadata."""
    client.get_or_create_collection(MANIFEST_COLLECTION, embedding_function=None).upsert(
        ids=[f"{collection}::{saved.repository}"],
        embeddings=np.ones((1, 1), dtype=np.float32),
        documents=[MANIFEST.dumps(saved)],
        metadatas=[{"collection": collection, "repository": saved.repository}],
    )


def stored_ids(client: ClientAPI, collection: str) -> list[str]:
    return client.get_collection(MANIFEST_COLLECTION).get(where={"collection": collection})["ids"]


async def test_two_refs_of_a_repository_are_kept_side_by_side(chroma_client: ClientAPI) -> None:
    store, collection = ChromaManifestStore(chroma_client), collection_name()
    default_branch, tag = manifest(None, "c1"), manifest("v1.0", "c2")
    await store.save(collection, default_branch)
    await store.save(collection, tag)

    assert await store.get(collection, REPOSITORY, None) == default_branch
    assert await store.get(collection, REPOSITORY, "v1.0") == tag
    assert await store.get(collection, REPOSITORY, "v2.0") is None

    moved_on = manifest(None, "c3")
    await store.save(collection, moved_on)
    assert await store.get(collection, REPOSITORY, None) == moved_on
    assert await store.get(collection, REPOSITORY, "v1.0") == tag

    await store.delete(collection, REPOSITORY, None)
    assert await store.get(collection, REPOSITORY, None) is None
    assert await store.entries(collection) == [(collection, tag)]


async def test_a_replica_lists_what_another_saved_or_deleted_since_it_last_looked(chroma_client: ClientAPI) -> None:
    """Listings are kept per collection until its generation moves: every save and delete moves it."""
    reader, writer = ChromaManifestStore(chroma_client), ChromaManifestStore(chroma_client)
    collection = collection_name()
    assert await reader.entries(collection) == []

    first = manifest(None, "c1")
    await writer.save(collection, first)
    assert await reader.entries(collection) == [(collection, first)]
    assert await reader.entries(collection) == [(collection, first)]

    moved_on, tag = manifest(None, "c2"), manifest("v1.0", "c3")
    await writer.save(collection, moved_on)
    await writer.save(collection, tag)
    assert await reader.entries(collection) == [(collection, moved_on), (collection, tag)]

    await writer.delete(collection, REPOSITORY, None)
    assert await reader.entries(collection) == [(collection, tag)]
    assert await reader.get(collection, REPOSITORY, None) is None

    migrate_chroma(chroma_client)  # the generation records are not manifests of an earlier build
    assert await ChromaManifestStore(chroma_client).entries(collection) == [(collection, tag)]
    assert [m for c, m in await reader.entries() if c == collection] == [tag]  # every collection's listing


async def test_entries_sort_by_repository_collection_then_ref_default_branch_first(chroma_client: ClientAPI) -> None:
    store, first, second = ChromaManifestStore(chroma_client), f"a-{collection_name()}", f"b-{collection_name()}"
    saved = [
        (second, manifest("main", repository="acme/widgets")),
        (first, manifest("v2", repository="acme/widgets")),
        (first, manifest(None, repository="acme/widgets")),
        (first, manifest("main", repository="acme/widgets")),
        (first, manifest(None, repository="acme/gadgets")),
    ]
    for collection, each in saved:
        await store.save(collection, each)

    listed = [(c, m.repository, m.ref) for c, m in await store.entries() if c in (first, second)]
    assert listed == [
        (first, "acme/gadgets", None),
        (first, "acme/widgets", None),
        (first, "acme/widgets", "main"),
        (first, "acme/widgets", "v2"),
        (second, "acme/widgets", "main"),
    ]
    assert [m.ref for _, m in await store.entries(second)] == ["main"]


async def test_a_repository_id_holding_the_separator_keys_apart(chroma_client: ClientAPI) -> None:
    store, collection = ChromaManifestStore(chroma_client), collection_name()
    odd, plain = manifest(None, "c1", repository="acme::widgets::"), manifest(None, "c2", repository="acme")
    await store.save(collection, odd)
    await store.save(collection, plain)

    assert await store.get(collection, "acme::widgets::", None) == odd
    assert await store.get(collection, "acme", None) == plain
    assert await store.get(collection, "acme", "widgets") is None


def migrated_store(client: ClientAPI) -> ChromaManifestStore:
    """A store as a process starting on `client` gets it: the migrations run first."""
    migrate_chroma(client)
    return ChromaManifestStore(client)


async def test_records_saved_before_refs_are_migrated(chroma_client: ClientAPI) -> None:
    collection, tagged_collection = collection_name(), collection_name()
    default_branch, tag = manifest(None, "c1"), manifest("v1.0", "c2", repository="acme/gadgets")
    save_the_old_way(chroma_client, collection, default_branch)
    save_the_old_way(chroma_client, tagged_collection, tag)

    store = migrated_store(chroma_client)

    assert await store.get(collection, REPOSITORY, None) == default_branch
    assert await store.get(tagged_collection, "acme/gadgets", "v1.0") == tag
    assert await store.get(tagged_collection, "acme/gadgets", None) is None
    assert await store.entries(collection) == [(collection, default_branch)]
    assert await store.entries(tagged_collection) == [(tagged_collection, tag)]
    assert stored_ids(chroma_client, collection) == [f'["{collection}", "{REPOSITORY}", null]']

    assert await migrated_store(chroma_client).entries(collection) == [(collection, default_branch)]  # idempotent
    assert stored_ids(chroma_client, collection) == [f'["{collection}", "{REPOSITORY}", null]']


async def test_a_record_of_an_earlier_build_is_not_read_before_it_is_migrated(chroma_client: ClientAPI) -> None:
    collection = collection_name()
    save_the_old_way(chroma_client, collection, manifest(None, "c1"))

    store = ChromaManifestStore(chroma_client)

    assert await store.get(collection, REPOSITORY, None) is None
    assert await store.entries(collection) == []


async def test_a_migrated_record_is_an_ordinary_one(chroma_client: ClientAPI) -> None:
    collection = collection_name()
    save_the_old_way(chroma_client, collection, manifest("main", "c1"))
    store = migrated_store(chroma_client)

    await store.save(collection, manifest("v1.0", "c2"))
    assert [m.ref for _, m in await store.entries(collection)] == ["main", "v1.0"]
    await store.delete(collection, REPOSITORY, "main")
    assert [m.ref for _, m in await store.entries(collection)] == ["v1.0"]


async def test_the_migration_names_the_default_branch_as_refs_do_now(chroma_client: ClientAPI) -> None:
    collection = collection_name()
    save_the_old_way(chroma_client, collection, manifest("HEAD", "c1"))

    found = await migrated_store(chroma_client).get(collection, REPOSITORY, None)

    assert found == manifest(None, "c1")


async def test_the_migration_keeps_a_newer_manifest_already_moved(chroma_client: ClientAPI) -> None:
    """Two processes migrating at once: one moved the old record and saved a newer version since."""
    collection = collection_name()
    newer = manifest(None, "c2", indexed_at="2025-03-02T00:00:00+00:00")
    await ChromaManifestStore(chroma_client).save(collection, newer)
    save_the_old_way(chroma_client, collection, manifest(None, "c1", indexed_at="2025-03-01T00:00:00+00:00"))

    store = migrated_store(chroma_client)

    assert await store.entries(collection) == [(collection, newer)]
    assert len(stored_ids(chroma_client, collection)) == 1


async def test_an_old_record_saved_later_than_the_moved_one_wins(chroma_client: ClientAPI) -> None:
    """A repochat of before, still running, saved again after another process had migrated."""
    collection = collection_name()
    await ChromaManifestStore(chroma_client).save(collection, manifest(None, "c1", indexed_at="2025-03-01T00:00:00"))
    later = manifest(None, "c2", indexed_at="2025-03-02T00:00:00")
    save_the_old_way(chroma_client, collection, later)

    assert await migrated_store(chroma_client).entries(collection) == [(collection, later)]


async def test_two_processes_migrating_at_once_leave_one_record(chroma_client: ClientAPI) -> None:
    collection = collection_name()
    save_the_old_way(chroma_client, collection, manifest("v1.0", "c1"))

    await asyncio.gather(
        asyncio.to_thread(migrate_chroma, chroma_client), asyncio.to_thread(migrate_chroma, chroma_client)
    )

    assert await ChromaManifestStore(chroma_client).get(collection, REPOSITORY, "v1.0") == manifest("v1.0", "c1")
    assert stored_ids(chroma_client, collection) == [f'["{collection}", "{REPOSITORY}", "v1.0"]']


async def test_the_migration_gives_each_collection_with_manifests_a_generation_once(chroma_client: ClientAPI) -> None:
    collection, empty = collection_name(), collection_name()
    save_the_old_way(chroma_client, collection, manifest(None))
    records = chroma_client.get_collection(MANIFEST_COLLECTION)

    def generation(of: str) -> list[object]:
        return [m["generation"] for m in records.get(ids=[generation_record_id(of)])["metadatas"] or []]

    migrate_chroma(chroma_client)
    first = generation(collection)
    migrate_chroma(chroma_client)

    assert len(first) == 1 and generation(collection) == first  # idempotent
    assert generation(empty) == []
    assert await ChromaManifestStore(chroma_client).entries(collection) == [(collection, manifest(None))]


async def test_a_container_migrates_when_it_opens_chroma(tmp_path: Path) -> None:
    old = manifest("v1.0", "c1")
    lock = DataDirLock(tmp_path, "an earlier build")
    lock.acquire()
    save_the_old_way(open_embedded_chroma(tmp_path, lock), "default", old)
    lock.release()
    container = Container(settings=Settings(data_dir=tmp_path, embeddings="hashing"))

    async with running(container):
        assert await container.manifests().entries() == [("default", old)]
