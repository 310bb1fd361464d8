"""Listing and forgetting indexed repositories."""

from __future__ import annotations

import pytest

from application.indexing import IndexPlan, IndexRepository
from application.repositories import ForgetRepository, GetRepository, ListRepositories
from domain.errors import InvalidInput, NotFound
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
    assert len(await GetRepository(ListRepositories(manifests)).execute(SPEC.repository_id)) == 2
    with pytest.raises(NotFound):
        await GetRepository(ListRepositories(manifests)).execute("local:/nowhere")
    for name in ("../../x", "repochat-manifests"):  # no collection's name, a reserved one: as every route says
        with pytest.raises(InvalidInput, match="collection"):
            await ListRepositories(manifests).execute(name)


async def test_forget_removes_the_manifest_and_every_chunk_of_one_collection(
    indexed: tuple[InMemoryManifestStore, InMemoryVectorIndex],
) -> None:
    manifests, index = indexed
    forgotten = await ForgetRepository(manifests, index).execute(SPEC.repository_id, "other")
    assert [r.collection for r in forgotten] == ["other"]
    assert index.records["other"] == {} and index.records["default"]
    assert [c for c, _ in await manifests.entries()] == ["default"]
    await ForgetRepository(manifests, index).execute(SPEC.repository_id)
    assert index.records["default"] == {} and await manifests.entries() == []
    with pytest.raises(NotFound):
        await ForgetRepository(manifests, index).execute(SPEC.repository_id)


async def unfinished_index(index: InMemoryVectorIndex, manifests: InMemoryManifestStore, request: IndexRequest) -> None:
    """Plan and write, then stop as a cancelled or failed job does: chunks stored, no manifest swapped."""
    indexer = IndexRepository([FakeSource({"b.md": "# B\n\nbeta\n"})], RecordingEmbedder(), index, manifests)
    plan = await indexer.plan(request)
    assert isinstance(plan, IndexPlan)
    for batch in plan.batches(len(plan.diff.to_index)):
        await indexer.write(batch)


async def test_a_repository_never_fully_indexed_can_be_forgotten_in_every_collection() -> None:
    manifests, index = InMemoryManifestStore(), InMemoryVectorIndex()
    await unfinished_index(index, manifests, IndexRequest(SPEC))
    await unfinished_index(index, manifests, IndexRequest(SPEC, "other"))
    assert await manifests.entries() == [] and index.records["default"] and index.records["other"]

    forgotten = await ForgetRepository(manifests, index).execute(SPEC.repository_id)

    assert forgotten == [] and index.records == {"default": {}, "other": {}}
    with pytest.raises(NotFound):
        await ForgetRepository(manifests, index).execute(SPEC.repository_id)


async def test_forget_removes_what_an_unfinished_reindex_wrote_beside_the_manifest(
    indexed: tuple[InMemoryManifestStore, InMemoryVectorIndex],
) -> None:
    manifests, index = indexed
    await unfinished_index(index, manifests, IndexRequest(SPEC))
    other = SourceSpec(SourceKind.LOCAL, "/other")
    await unfinished_index(index, manifests, IndexRequest(other))

    await ForgetRepository(manifests, index).execute(SPEC.repository_id, "default")

    assert {c.repository for c, _ in index.records["default"].values()} == {other.repository_id}
    assert index.records["other"] and [c for c, _ in await manifests.entries()] == ["other"]


async def test_forget_checks_the_collection_name() -> None:
    with pytest.raises(InvalidInput):
        await ForgetRepository(InMemoryManifestStore(), InMemoryVectorIndex()).execute(SPEC.repository_id, "x/y")
