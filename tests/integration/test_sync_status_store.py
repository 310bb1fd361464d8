"""ChromaSyncStatusStore on embedded Chroma and on a real `chroma run` server: statuses apart from manifests."""

from __future__ import annotations

import uuid

from chromadb.api import ClientAPI

from adapters.vectorstore.chroma_index import ChromaVectorIndex
from adapters.vectorstore.chroma_manifests import ChromaManifestStore
from adapters.vectorstore.chroma_sync_status import ChromaSyncStatusStore
from domain.documents import Manifest
from domain.sync import SyncKey, SyncResult, SyncStatus, SyncTrigger


async def test_statuses_are_kept_per_collection_repository_and_ref(chroma_client: ClientAPI) -> None:
    store = ChromaSyncStatusStore(chroma_client)
    collection = f"test-{uuid.uuid4().hex[:8]}"
    default_branch = SyncStatus(collection, "acme/widgets", None, "2025-03-01T12:00:00+00:00", SyncTrigger.SCHEDULE)
    tag = SyncStatus(collection, "acme/widgets", "v1.0", last_result=SyncResult.FAILED, last_error="gone")
    elsewhere = SyncStatus(f"{collection}-b", "acme/widgets", None, pending_job_id="job-9")
    for status in (default_branch, tag, elsewhere):
        await store.save(status)

    assert await store.get(SyncKey(collection, "acme/widgets")) == default_branch
    assert await store.get(SyncKey(collection, "acme/widgets", "v1.0")) == tag
    assert await store.get(SyncKey(collection, "acme/gadgets")) is None
    assert await store.entries(collection) == [default_branch, tag]
    assert elsewhere in await store.entries()

    updated = SyncStatus(collection, "acme/widgets", "v1.0", last_result=SyncResult.UNCHANGED, commit="c2")
    await store.save(updated)
    assert await store.entries(collection) == [default_branch, updated]
    await store.delete(tag.key)
    assert await store.entries(collection) == [default_branch]


async def test_statuses_stay_out_of_the_manifests_and_the_collections_listed(chroma_client: ClientAPI) -> None:
    collection = f"test-{uuid.uuid4().hex[:8]}"
    manifests = ChromaManifestStore(chroma_client)
    await manifests.save(collection, Manifest("acme/widgets", "github:acme/widgets", "c1"))
    await ChromaSyncStatusStore(chroma_client).save(
        SyncStatus(collection, "acme/widgets", last_result=SyncResult.UPDATED)
    )

    assert [m.repository for _, m in await manifests.entries(collection)] == ["acme/widgets"]
    assert "repochat-sync-status" not in await ChromaVectorIndex(chroma_client).collections()
