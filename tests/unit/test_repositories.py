"""Listing and forgetting indexed repositories."""

from __future__ import annotations

import pytest

from application.indexing import IndexRepository
from application.repositories import ForgetRepository, GetRepository, ListRepositories
from domain.errors import NotFound
from domain.jobs import IndexRequest
from domain.sources import SourceKind, SourceSpec
from tests.unit.fakes import FakeSource, InMemoryManifestStore, InMemoryVectorIndex, RecordingEmbedder

SPEC = SourceSpec(SourceKind.LOCAL, "/repo")


@pytest.fixture
async def indexed() -> tuple[InMemoryManifestStore, InMemoryVectorIndex]:
    manifests, index = InMemoryManifestStore(), InMemoryVectorIndex()
    indexer = IndexRepository([FakeSource({"a.md": "# A\n\nalpha\n"})], RecordingEmbedder(), index, manifests)
    await indexer.execute(IndexRequest(SPEC))
    await indexer.execute(IndexRequest(SPEC, "other"))
    return manifests, index


async def test_list_and_get_show_each_collection(indexed: tuple[InMemoryManifestStore, InMemoryVectorIndex]) -> None:
    manifests, _ = indexed
    listed = await ListRepositories(manifests).execute()
    assert sorted(r.collection for r in listed) == ["default", "other"]
    assert len(await GetRepository(manifests).execute(SPEC.repository_id)) == 2
    with pytest.raises(NotFound):
        await GetRepository(manifests).execute("local:/nowhere")


async def test_forget_removes_the_manifest_and_every_chunk_of_one_collection(
    indexed: tuple[InMemoryManifestStore, InMemoryVectorIndex],
) -> None:
    manifests, index = indexed
    forgotten = await ForgetRepository(manifests, index).execute(SPEC.repository_id, "other")
    assert [r.collection for r in forgotten] == ["other"]
    assert index.chunks["other"] == {} and index.chunks["default"]
    assert [c for c, _ in await manifests.entries()] == ["default"]
    await ForgetRepository(manifests, index).execute(SPEC.repository_id)
    assert index.chunks["default"] == {} and await manifests.entries() == []
    with pytest.raises(NotFound):
        await ForgetRepository(manifests, index).execute(SPEC.repository_id)
