"""Embeddings reused by content, through real Chroma (embedded and the `chroma run` server) and real sources.

A fork, a copy or another tag of a repository costs embedding calls only for the chunks whose embedded
text no stored chunk has: counted by a counting wrapper around the hashing embedder, and checked
against the chunks each index stored.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from chromadb.api import ClientAPI

from adapters.embeddings.hashing import HashingEmbedder
from adapters.keyword.tantivy_index import TantivyKeywordIndex
from adapters.sources.github import GitHubArchiveSource
from adapters.sources.local_folder import LocalFolderSource
from adapters.vectorstore.chroma_index import ChromaVectorIndex
from adapters.vectorstore.chroma_manifests import ChromaManifestStore
from application.indexing import IndexRepository
from application.ports.sources import DocumentSource
from application.search import SearchDocuments, SearchRequest
from domain.chunking import embedding_text
from domain.content_keys import content_key
from domain.documents import Chunk
from domain.errors import Conflict
from domain.jobs import IndexRequest, IndexResult
from domain.sources import SourceSpec, parse_source
from entrypoints.source_input import source_spec
from tests.integration.fake_github import FakeGitHub
from tests.integration.test_incremental_reindex import CountingEmbedder

PAGES = ("tutorial/path-params.md", "tutorial/query-params.md", "tutorial/body.md")
EDITED, FORKED = PAGES[0], PAGES[1]
ADDED = "tutorial/release-notes.md"


def unique_collection() -> str:
    """A collection of this test alone: the `chroma run` server is shared by the whole session."""
    return f"reuse-{uuid.uuid4().hex[:12]}"


def chunk(repository: str, text: str, search_text: str = "") -> Chunk:
    return Chunk(f"{repository}-1", repository, "docs/a.md", "b1", "c1", 0, text, 1, 3, ("A",), "", search_text)


def pages(corpus: Path) -> dict[str, str]:
    return {page: (corpus / page).read_text() for page in PAGES}


def appended(files: dict[str, str], path: str, sentence: str) -> dict[str, str]:
    return {**files, path: files[path] + f"\n{sentence}\n"}


class Indexing:
    """Indexes sources into one collection of a real Chroma with one counting embedder."""

    def __init__(self, client: ClientAPI) -> None:
        self.embedder = CountingEmbedder()
        self.index = ChromaVectorIndex(client)
        self.manifests = ChromaManifestStore(client)
        self.collection = unique_collection()

    async def run(self, source: DocumentSource, spec: SourceSpec, collection: str | None = None) -> IndexResult:
        self.embedder.texts.clear()
        use_case = IndexRepository([source], self.embedder, self.index, self.manifests)
        return await use_case.execute(IndexRequest(spec, collection or self.collection))

    async def keys(self, repository: str) -> set[str]:
        return {content_key(c) for c in await self.index.chunks(self.collection, repository)}

    async def texts_new_to(self, known: set[str], repository: str) -> list[str]:
        """The embedded texts of `repository`'s stored chunks whose keys are not in `known`."""
        stored = await self.index.chunks(self.collection, repository)
        return sorted({embedding_text(c) for c in stored if content_key(c) not in known})

    def embedded(self) -> list[str]:
        return sorted(self.embedder.texts)


async def test_vectors_by_content_round_trip(chroma_client: ClientAPI) -> None:
    index, embedder, collection = ChromaVectorIndex(chroma_client), HashingEmbedder(), unique_collection()
    original = [chunk("owner/a", "Install with pip."), chunk("owner/b", "<b>Run</b> it.", search_text="Run it.")]
    vectors = await embedder.embed_documents([embedding_text(c) for c in original])
    twin = chunk("fork/a", "Install with pip.")  # another repository, the same embedded text
    missing = "0" * 64

    assert await index.vectors_by_content(collection, embedder.name, {content_key(twin)}) == {}  # no collection yet
    await index.upsert(collection, embedder.name, original, vectors)
    await index.upsert(collection, embedder.name, [twin], vectors[:1])
    found = await index.vectors_by_content(collection, embedder.name, {content_key(c) for c in original} | {missing})

    assert set(found) == {content_key(c) for c in original} and content_key(twin) == content_key(original[0])
    for stored, vector in zip(original, vectors, strict=True):
        np.testing.assert_allclose(found[content_key(stored)], vector, atol=1e-6)
    with pytest.raises(Conflict):
        await index.vectors_by_content(collection, "another-embedder", {missing})


async def test_chunks_stored_before_content_keys_were_recorded_are_not_reused(chroma_client: ClientAPI) -> None:
    index, embedder, collection = ChromaVectorIndex(chroma_client), HashingEmbedder(), unique_collection()
    older = chunk("owner/a", "Install with pip.")
    await index.upsert(collection, embedder.name, [older], await embedder.embed_documents([embedding_text(older)]))
    stored = chroma_client.get_collection(collection)
    record = stored.get(ids=[older.id], include=["embeddings", "metadatas", "documents"])
    metadata = {k: v for k, v in (record["metadatas"] or [{}])[0].items() if k != "content_key"}
    stored.delete(ids=[older.id])  # stored again as an older repochat stored it: with no content key
    stored.add(ids=[older.id], embeddings=record["embeddings"], documents=record["documents"], metadatas=[metadata])

    assert await index.vectors_by_content(collection, embedder.name, {content_key(older)}) == {}


async def test_a_fork_of_a_folder_embeds_only_its_differing_chunks_and_cites_itself(
    chroma_client: ClientAPI, corpus: Path, tmp_path: Path
) -> None:
    original, fork = tmp_path / "original", tmp_path / "fork"
    for page in PAGES:
        (original / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(corpus / page, original / page)
    shutil.copytree(original, fork)
    (fork / FORKED).write_text(appended(pages(corpus), FORKED, "The fork documents the ocelot parameter.")[FORKED])
    indexing, source = Indexing(chroma_client), LocalFolderSource()
    original_spec, fork_spec = source_spec(str(original)), source_spec(str(fork))

    await indexing.run(source, original_spec)
    known = await indexing.keys(original_spec.repository_id)
    result = await indexing.run(source, fork_spec)

    expected = await indexing.texts_new_to(known, fork_spec.repository_id)
    assert indexing.embedded() == expected and expected and all(t.startswith(f"{FORKED}:") for t in expected)
    assert result.chunks_reused == result.chunks_written - len(expected)
    search = SearchDocuments(indexing.embedder, indexing.index, indexing.manifests, TantivyKeywordIndex(indexing.index))
    hits = (
        await search.execute(SearchRequest("path parameters", 5, indexing.collection, fork_spec.repository_id))
    ).hits
    assert hits and all(h.chunk.url.startswith(f"{fork.resolve().as_uri()}/") for h in hits)


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[FakeGitHub]:
    with FakeGitHub(tmp_path / "git") as server:
        yield server


async def test_a_second_tag_and_a_fork_on_github_embed_only_their_differing_chunks(
    chroma_client: ClientAPI, corpus: Path, gh: FakeGitHub, tmp_path: Path
) -> None:
    v1 = pages(corpus)
    repo = gh.create_repo("owner", "demo", v1)
    repo.tag("v1")
    v2 = {**appended(v1, EDITED, "Version 2 adds the narwhal converter."), ADDED: "# Release notes\n\nVersion 2.\n"}
    repo.commit("v2", v2)
    repo.tag("v2")
    gh.create_repo("other", "demo", appended(v2, FORKED, "The fork documents the ocelot parameter."))
    indexing = Indexing(chroma_client)
    async with httpx.AsyncClient(timeout=10) as client:
        source = GitHubArchiveSource(client, api_url=gh.api_url, extract_dir=tmp_path)

        first = await indexing.run(source, parse_source("github:owner/demo@v1"))
        assert first.embedding_calls >= 1 and first.chunks_reused == 0
        v1_keys = await indexing.keys("owner/demo")

        second = await indexing.run(source, parse_source("github:owner/demo@v2"))
        v2_new = await indexing.texts_new_to(v1_keys, "owner/demo")
        assert indexing.embedded() == v2_new
        assert {text.split(":")[0] for text in v2_new} == {EDITED, ADDED}
        assert second.files_indexed == 2 and second.chunks_reused == second.chunks_written - len(v2_new) > 0
        v2_keys = await indexing.keys("owner/demo")

        fork = await indexing.run(source, parse_source("github:other/demo"))
        fork_new = await indexing.texts_new_to(v2_keys, "other/demo")
        assert indexing.embedded() == fork_new and {text.split(":")[0] for text in fork_new} == {FORKED}
        assert fork.chunks_reused == fork.chunks_written - len(fork_new) > len(fork_new)

        cold = await indexing.run(source, parse_source("github:other/demo"), unique_collection())
        assert len(indexing.embedder.texts) == cold.chunks_written == fork.chunks_written
        assert fork.embedding_calls <= cold.embedding_calls
