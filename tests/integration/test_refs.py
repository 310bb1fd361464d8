"""Refs side by side on the GitHub-shaped server, with real git repositories and real Chroma (embedded and server).

A repository indexed at its default branch, a tag and a branch holds three live manifests in one
collection; each is searched on its own and cites its own commit, a new commit on one ref leaves the
others as they were, and forgetting one ref leaves the others searchable.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from chromadb.api import ClientAPI

from adapters.keyword.tantivy_index import TantivyKeywordIndex
from adapters.sources.github import GitHubArchiveSource
from adapters.vectorstore.chroma_index import ChromaVectorIndex
from adapters.vectorstore.chroma_manifests import ChromaManifestStore
from application.indexing import IndexRepository
from application.repositories import ForgetRepository, ListRepositories
from application.search import SearchDocuments, SearchRequest
from domain.answers import SearchHit
from domain.errors import NotFound
from domain.jobs import IndexRequest, IndexResult
from domain.sources import parse_source
from tests.integration.fake_github import FakeGitHub, GitRepo
from tests.integration.test_incremental_reindex import CountingEmbedder

REPOSITORY = "acme/docs"
PAGES = ("tutorial/path-params.md", "tutorial/query-params.md", "tutorial/body.md", "deployment/docker.md")


class Refs:
    """One repository on the fake GitHub, indexed at several refs into one collection of a real Chroma."""

    def __init__(self, client: ClientAPI, source: GitHubArchiveSource, repo: GitRepo) -> None:
        self.repo = repo
        self.source = source
        self.embedder = CountingEmbedder()
        self.index = ChromaVectorIndex(client)
        self.manifests = ChromaManifestStore(client)
        self.collection = f"refs-{uuid.uuid4().hex[:12]}"  # the `chroma run` server is shared by the session
        self.search_documents = SearchDocuments(
            self.embedder, self.index, self.manifests, TantivyKeywordIndex(self.index)
        )

    async def index_ref(self, ref: str | None) -> IndexResult:
        self.embedder.texts.clear()
        spec = parse_source(f"github:{REPOSITORY}", ref=ref)
        indexer = IndexRepository([self.source], self.embedder, self.index, self.manifests)
        return await indexer.execute(IndexRequest(spec, self.collection))

    async def search(self, query: str, ref: str | None = None) -> list[SearchHit]:
        return (await self.search_documents.execute(SearchRequest(query, 8, self.collection, REPOSITORY, ref=ref))).hits

    async def text(self, query: str, ref: str | None = None) -> str:
        return "\n".join(hit.chunk.text for hit in await self.search(query, ref))

    async def stored_ids(self) -> set[str]:
        return {chunk.id for chunk in await self.index.stored_chunks(self.collection, REPOSITORY)}


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[FakeGitHub]:
    with FakeGitHub(tmp_path / "git") as server:
        yield server


@pytest.fixture
async def refs(chroma_client: ClientAPI, gh: FakeGitHub, corpus: Path, tmp_path: Path) -> AsyncIterator[Refs]:
    """main at v2 (an edited page, an added one, a deleted one), tag v1 before that, branch `next` after."""
    v1 = {page: (corpus / page).read_text() for page in PAGES}
    repo = gh.create_repo("acme", "docs", v1)
    repo.tag("v1")
    v2 = {page: text for page, text in v1.items() if page != "deployment/docker.md"}
    v2[PAGES[0]] += "\n## Converters\n\nVersion 2 adds the narwhal converter for path parameters.\n"
    v2["tutorial/release-notes.md"] = "# Release notes\n\nVersion 2 drops the Docker page.\n"
    repo.delete("deployment/docker.md")
    repo.commit("v2", v2)
    repo.branch("next")
    repo.checkout("next")
    repo.commit("next", {"tutorial/query-params.md": v1[PAGES[1]] + "\n## Ocelot\n\nThe ocelot query flag.\n"})
    repo.checkout("main")
    async with httpx.AsyncClient(timeout=10) as client:
        yield Refs(chroma_client, GitHubArchiveSource(client, api_url=gh.api_url, extract_dir=tmp_path), repo)


async def test_three_refs_live_at_once_are_searched_separately_and_cite_their_commits(refs: Refs) -> None:
    main, v1, nxt = await refs.index_ref(None), await refs.index_ref("v1"), await refs.index_ref("next")
    assert len({main.commit, v1.commit, nxt.commit}) == 3

    assert "narwhal" in await refs.text("narwhal converter")
    assert "narwhal" not in await refs.text("narwhal converter", "v1")
    assert "Docker" in await refs.text("deploy with Docker containers", "v1")
    assert "ocelot" in await refs.text("ocelot query flag", "next")
    assert "ocelot" not in await refs.text("ocelot query flag")
    for ref, commit in ((None, main.commit), ("v1", v1.commit), ("next", nxt.commit), (v1.commit[:12], v1.commit)):
        hits = await refs.search("path parameters", ref)
        assert hits and all(h.chunk.commit == commit and f"/blob/{commit}/" in h.chunk.url for h in hits)

    listed = await ListRepositories(refs.manifests).execute(refs.collection)
    assert [(e.manifest.ref, e.manifest.commit, e.searched_by_default) for e in listed] == [
        (None, main.commit, True),
        ("next", nxt.commit, False),
        ("v1", v1.commit, False),
    ]


async def test_refs_share_the_chunks_of_the_file_versions_they_share(refs: Refs) -> None:
    await refs.index_ref("v1")
    written_at_v1 = await refs.stored_ids()

    main = await refs.index_ref(None)

    stored = await refs.stored_ids()
    assert written_at_v1 < stored and main.chunks_written == len(stored - written_at_v1)
    assert refs.embedder.texts and all(
        text.startswith((PAGES[0], "tutorial/release-notes.md")) for text in refs.embedder.texts
    )
    assert main.chunks_deleted == 0  # v1 still names the Docker page and the first version of path-params


async def test_a_new_commit_on_one_ref_swaps_it_alone(refs: Refs) -> None:
    await refs.index_ref(None)
    await refs.index_ref("v1")
    v1_before = await refs.manifests.get(refs.collection, REPOSITORY, "v1")
    refs.repo.commit("v3", {PAGES[2]: "# Request Body\n\nVersion 3 sends bodies as the pangolin format.\n"})

    result = await refs.index_ref(None)

    assert result.files_indexed == 1 and result.files_unchanged >= 3
    assert "pangolin" in await refs.text("pangolin body format")
    assert "pangolin" not in await refs.text("pangolin body format", "v1")
    assert await refs.manifests.get(refs.collection, REPOSITORY, "v1") == v1_before
    assert v1_before is not None and v1_before.chunk_ids() <= await refs.stored_ids()


async def test_forgetting_one_ref_leaves_the_others_searchable(refs: Refs) -> None:
    await refs.index_ref(None)
    await refs.index_ref("v1")
    forget = ForgetRepository(refs.manifests, refs.index)

    forgotten = await forget.execute(REPOSITORY, refs.collection, "v1")

    assert [entry.manifest.ref for entry in forgotten] == ["v1"]
    main = await refs.manifests.get(refs.collection, REPOSITORY, None)
    assert main is not None and await refs.stored_ids() == main.chunk_ids()
    assert "narwhal" in await refs.text("narwhal converter path parameters")
    with pytest.raises(NotFound, match="not indexed at v1; indexed: the default branch"):
        await refs.search("path parameters", "v1")

    await forget.execute(REPOSITORY, refs.collection)
    assert await refs.stored_ids() == set() and await refs.manifests.entries(refs.collection) == []
