"""Refs side by side: each ref of a repository has its own manifest, and the refs share their chunks."""

from __future__ import annotations

from dataclasses import replace

import pytest

from adapters.keyword.tantivy_index import TantivyKeywordIndex
from application.indexing import IndexRepository
from application.reading import ReadFileRequest, ReadIndexedFile
from application.repositories import ForgetRepository, ListRepositories, ResolveRepository
from application.search import SearchDocuments, SearchRequest
from domain.documents import Manifest
from domain.errors import InvalidInput, NotFound
from domain.jobs import IndexRequest, IndexResult
from domain.refs import RefChoice, default_manifest, live_manifests, matches_ref, normalize_ref
from domain.retrieval import RetrievalMode
from domain.sources import SourceKind, SourceSpec, parse_source
from tests.unit.fakes import FakeSource, InMemoryManifestStore, InMemoryVectorIndex, RecordingEmbedder

REPO = "local:/repo"
MAIN = {
    "guide.md": "# Guide\n\nInstall with pip.\n\n## Usage\n\nRun the zebra command.\n",
    "api.md": "# API\n\nThe quokka endpoint returns JSON.\n",
    "notes.md": "# Notes\n\nThe walrus flag is new on main.\n",
}
V1 = {
    "guide.md": MAIN["guide.md"],
    "api.md": "# API\n\nThe platypus endpoint returns XML.\n",
}


def request(ref: str | None = None) -> IndexRequest:
    return IndexRequest(SourceSpec(SourceKind.LOCAL, "/repo", ref=ref))


class World:
    def __init__(self) -> None:
        self.source = FakeSource(MAIN, refs={"v1": dict(V1)})
        self.embedder = RecordingEmbedder()
        self.index = InMemoryVectorIndex()
        self.manifests = InMemoryManifestStore()
        self.keywords = TantivyKeywordIndex(self.index)

    async def index_ref(self, ref: str | None = None) -> IndexResult:
        return await IndexRepository([self.source], self.embedder, self.index, self.manifests).execute(request(ref))

    async def texts(self, query: str, ref: str | None = None, mode: RetrievalMode | None = None) -> str:
        search = SearchDocuments(self.embedder, self.index, self.manifests, self.keywords)
        hits = (await search.execute(SearchRequest(query, 10, repository=REPO, mode=mode, ref=ref))).hits
        return " ".join(hit.chunk.text for hit in hits)

    async def manifest(self, ref: str | None) -> Manifest:
        found = await self.manifests.get("default", REPO, ref)
        assert found is not None
        return found


@pytest.fixture
async def world() -> World:
    world = World()
    await world.index_ref(None)
    await world.index_ref("v1")
    return world


@pytest.mark.parametrize("mode", list(RetrievalMode))
async def test_two_refs_are_live_at_once_and_searched_separately(world: World, mode: RetrievalMode) -> None:
    query = "quokka platypus endpoint walrus"
    main, v1 = await world.texts(query, None, mode), await world.texts(query, "v1", mode)
    assert "quokka" in main and "walrus" in main and "platypus" not in main
    assert "platypus" in v1 and "quokka" not in v1 and "walrus" not in v1
    assert await world.texts(query, "HEAD", mode) == main


async def test_hits_cite_the_commit_of_the_ref_searched(world: World) -> None:
    search = SearchDocuments(world.embedder, world.index, world.manifests, world.keywords)
    for ref in (None, "v1"):
        hits = (await search.execute(SearchRequest("install with pip", 3, ref=ref))).hits
        commit = (await world.manifest(ref)).commit
        assert hits and all(hit.chunk.commit == commit for hit in hits)


async def test_a_second_ref_reads_embeds_and_writes_only_the_files_it_does_not_share() -> None:
    world = World()
    await world.index_ref(None)
    world.embedder.embedded.clear()
    world.source.reads.clear()
    written_before = len(world.index.upserted)

    result = await world.index_ref("v1")

    assert world.source.reads == ["api.md"]  # guide.md is the default branch's version: its chunks are kept
    assert world.embedder.embedded and all("platypus" in text for text in world.embedder.embedded)
    assert result.chunks_written == len(world.index.upserted) - written_before == 1
    assert (result.files_indexed, result.files_unchanged, result.files_deleted) == (1, 1, 1)
    v1 = await world.manifest("v1")
    assert (
        set(v1.files) == set(V1)
        and v1.chunk_counts["guide.md"] == (await world.manifest(None)).chunk_counts["guide.md"]
    )


async def test_a_new_ref_at_the_commit_of_another_lists_once_and_reads_nothing() -> None:
    world = World()
    world.source.refs["release"] = dict(MAIN)
    await world.index_ref(None)
    world.source.reads.clear()
    calls = world.embedder.calls

    result = await world.index_ref("release")

    release, main = await world.manifest("release"), await world.manifest(None)
    assert world.source.reads == [] and world.embedder.calls == calls
    assert (result.files_unchanged, result.chunks_written) == (len(MAIN), 0)
    assert (release.ref, release.files, release.chunk_counts) == ("release", main.files, main.chunk_counts)
    assert "quokka" in await world.texts("quokka endpoint", "release")


async def test_a_ref_with_other_filters_does_not_start_from_another_ref() -> None:
    world = World()
    await world.index_ref(None)
    world.source.reads.clear()
    narrowed = IndexRequest(SourceSpec(SourceKind.LOCAL, "/repo", ref="v1", exclude=("api.md",)))

    await IndexRepository([world.source], world.embedder, world.index, world.manifests).execute(narrowed)

    # The fake source does not filter; guide.md is read again: the default branch was listed with other filters.
    assert sorted(world.source.reads) == ["api.md", "guide.md"]


async def test_a_new_commit_of_one_ref_keeps_the_chunks_the_other_ref_names(world: World) -> None:
    world.source.files["guide.md"] = "# Guide\n\nInstall with uv.\n"
    result = await world.index_ref(None)

    assert (result.files_indexed, result.chunks_deleted) == (1, 0)  # v1 still names the old guide
    assert "pip" not in await world.texts("install with pip uv", None)
    assert "pip" in await world.texts("install with pip uv", "v1")
    v1 = await world.manifest("v1")
    stored = {chunk.id for chunk in await world.index.stored_chunks("default", REPO)}
    assert v1.chunk_ids() <= stored


async def test_an_unchanged_ref_reindexes_without_reading_or_embedding(world: World) -> None:
    world.source.reads.clear()
    calls = world.embedder.calls
    result = await world.index_ref("v1")
    assert (result.files_indexed, result.embedding_calls, world.embedder.calls) == (0, 0, calls)
    assert world.source.reads == []


async def test_no_ref_searches_the_default_branch_else_the_ref_indexed_last() -> None:
    world = World()
    world.source.refs["v2"] = {"api.md": "# API\n\nThe narwhal endpoint.\n"}
    await world.index_ref("v1")
    await world.index_ref("v2")
    v1 = await world.manifest("v1")
    await world.manifests.save("default", replace(v1, indexed_at="2999-01-01T00:00:00+00:00"))

    assert "platypus" in await world.texts("platypus narwhal endpoint")
    await world.index_ref(None)
    assert "quokka" in await world.texts("platypus narwhal quokka endpoint")


async def test_a_ref_not_indexed_is_not_found_and_names_the_refs_that_are(world: World) -> None:
    with pytest.raises(NotFound, match=r"not indexed at v9; indexed: the default branch, v1"):
        await world.texts("endpoint", "v9")
    with pytest.raises(InvalidInput):
        await world.texts("endpoint", "v 1")


async def test_a_commit_sha_prefix_finds_the_ref_indexed_at_it(world: World) -> None:
    commit = (await world.manifest("v1")).commit
    assert "platypus" in await world.texts("platypus quokka endpoint", commit[:10])
    assert "platypus" in await world.texts("platypus quokka endpoint", commit.upper())


async def test_forgetting_one_ref_leaves_the_other_searchable_and_deletes_only_its_own_chunks(world: World) -> None:
    v1 = await world.manifest("v1")
    main = await world.manifest(None)

    forgotten = await ForgetRepository(world.manifests, world.index).execute(REPO, ref="v1")

    assert [entry.manifest.ref for entry in forgotten] == ["v1"]
    assert await world.manifests.get("default", REPO, "v1") is None
    stored = {chunk.id for chunk in await world.index.stored_chunks("default", REPO)}
    assert stored == main.chunk_ids() and not (v1.chunk_ids() - main.chunk_ids()) & stored
    assert "quokka" in await world.texts("platypus quokka endpoint")
    with pytest.raises(NotFound, match="not indexed at v1"):
        await world.texts("endpoint", "v1")


async def test_forgetting_head_forgets_the_default_branch_and_no_ref_forgets_every_ref(world: World) -> None:
    forget = ForgetRepository(world.manifests, world.index)
    await forget.execute(REPO, ref="HEAD")
    assert [m.ref for _, m in await world.manifests.entries()] == ["v1"]
    assert "platypus" in await world.texts("platypus quokka endpoint")
    with pytest.raises(NotFound, match="not indexed at the default branch; indexed: v1"):
        await forget.execute(REPO, ref="HEAD")

    await world.index_ref(None)
    assert len(await forget.execute(REPO)) == 2
    assert await world.manifests.entries() == [] and await world.index.stored_chunks("default", REPO) == []


async def test_listings_show_every_ref_and_which_one_is_searched_by_default(world: World) -> None:
    listed = await ListRepositories(world.manifests).execute()
    assert [(e.manifest.ref, e.searched_by_default) for e in listed] == [(None, True), ("v1", False)]

    matches = await ResolveRepository(world.manifests).execute("repo")
    assert len(matches) == 1
    assert matches[0].entry.manifest.ref is None and matches[0].refs == (None, "v1")


async def test_a_file_is_read_at_the_ref_asked_for(world: World) -> None:
    read = ReadIndexedFile([world.source], world.manifests)
    assert "quokka" in (await read.execute(ReadFileRequest(REPO, "api.md"))).text
    excerpt = await read.execute(ReadFileRequest(REPO, "api.md", ref="v1"))
    assert "platypus" in excerpt.text and excerpt.commit == (await world.manifest("v1")).commit
    with pytest.raises(NotFound, match="not indexed at v2"):
        await read.execute(ReadFileRequest(REPO, "api.md", ref="v2"))


def _manifest(ref: str | None, commit: str, indexed_at: str, repository: str = "acme/docs") -> Manifest:
    return Manifest(repository, f"github:{repository}", commit, indexed_at=indexed_at, ref=ref)


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [(None, None), ("", None), ("  ", None), ("HEAD", None), (" v1.2 ", "v1.2"), ("feature/x", "feature/x")],
)
def test_refs_are_normalized_with_head_for_the_default_branch(raw: str | None, normalized: str | None) -> None:
    assert normalize_ref(raw) == normalized


@pytest.mark.parametrize("bad", ["a b", "a..b", "a:b", "x.lock", "-x", "a~1", "a^", "@", "a//b", "/a", "a/", "x@{1}"])
def test_names_git_refuses_are_not_refs(bad: str) -> None:
    with pytest.raises(InvalidInput, match="not a branch, tag or commit SHA"):
        normalize_ref(bad)


def test_a_local_folder_takes_no_ref_and_a_github_source_normalizes_it() -> None:
    with pytest.raises(InvalidInput, match="no refs"):
        parse_source("./docs", ref="v1")
    assert parse_source("./docs", ref="HEAD").ref is None
    assert parse_source("github:acme/docs@HEAD").ref is None
    assert parse_source("acme/docs", ref=" v2 ").ref == "v2"


def test_the_default_choice_and_pinned_refs() -> None:
    main = _manifest(None, "a" * 40, "2026-01-01T00:00:00+00:00")
    v1 = _manifest("v1", "b" * 40, "2026-03-01T00:00:00+00:00")
    v2 = _manifest("v2", "c" * 40, "2026-02-01T00:00:00+00:00")
    assert default_manifest([v1, main, v2]) is main
    assert default_manifest([v2, v1]) is v1 and default_manifest([]) is None
    assert RefChoice.of("v2").pick([main, v1, v2]) is v2
    assert RefChoice.of("HEAD").pick([v1, v2]) is None
    assert RefChoice.of("bbbbbbb").pick([main, v1]) is v1
    assert not matches_ref(v1, "bbbbbb")  # too short to be taken for a commit
    other = _manifest("v1", "d" * 40, "2026-01-01T00:00:00+00:00", "acme/other")
    assert live_manifests([main, v1, other], RefChoice.of("v1")) == {"acme/docs": v1, "acme/other": other}
    assert live_manifests([main, v1, other], RefChoice(), "acme/docs") == {"acme/docs": main}
