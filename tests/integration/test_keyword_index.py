"""TantivyKeywordIndex on disk over real Chroma (embedded and `chroma run`).

A swap writes only the file versions that changed, a restart opens the index without reading the
store, a fresh replica catches up once and agrees with the others, a write cut short is redone
whole, refs stay side by side across a restart, and a folder belongs to one process.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Collection
from pathlib import Path

import pytest
import tantivy
from chromadb.api import ClientAPI

from adapters.embeddings.hashing import HashingEmbedder
from adapters.keyword.chunk_reader import KeywordChunk
from adapters.keyword.synced_refs import SyncedRefs
from adapters.keyword.tantivy_index import LAYOUT, TantivyKeywordIndex
from adapters.sources.local_folder import LocalFolderSource
from adapters.vectorstore.chroma_index import ChromaVectorIndex
from adapters.vectorstore.chroma_manifests import ChromaManifestStore
from application.indexing import IndexRepository
from application.ports.stores import QueryVector
from application.repositories import ForgetRepository
from domain.answers import SearchHit
from domain.documents import CHUNKER_VERSION, Chunk, Manifest, chunk_id, git_blob_sha
from domain.jobs import IndexRequest
from domain.keywords import keyword_terms
from entrypoints.source_input import source_spec

PAGES = ("tutorial/request-files.md", "tutorial/query-params.md", "tutorial/path-params.md", "advanced/events.md")


class CountingReader:
    """ChromaVectorIndex's chunk reads, recorded: (repository, blob SHAs or None for all)."""

    def __init__(self, index: ChromaVectorIndex) -> None:
        self.index = index
        self.reads: list[frozenset[str] | None] = []

    async def keyword_chunks(
        self, collection: str, repository: str, blob_shas: Collection[str] | None = None
    ) -> list[KeywordChunk]:
        self.reads.append(None if blob_shas is None else frozenset(blob_shas))
        return await self.index.keyword_chunks(collection, repository, blob_shas)


class Docs:
    """A folder of FastAPI's pages indexed into a collection of its own on the Chroma under test."""

    def __init__(self, client: ClientAPI, corpus: Path, tmp_path: Path) -> None:
        self.folder = tmp_path / "docs"
        for page in PAGES:
            (self.folder / page).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(corpus / page, self.folder / page)
        self.collection = f"kw-{uuid.uuid4().hex[:8]}"
        self.vectors = ChromaVectorIndex(client)
        self.manifests = ChromaManifestStore(client)
        self.request = IndexRequest(source_spec(str(self.folder)), collection=self.collection)
        self.tmp_path = tmp_path

    async def index(self) -> None:
        await IndexRepository([LocalFolderSource()], HashingEmbedder(), self.vectors, self.manifests).execute(
            self.request
        )

    async def live(self) -> dict[str, Manifest]:
        return {m.repository: m for _, m in await self.manifests.entries(self.collection)}

    def replica(self, name: str) -> tuple[TantivyKeywordIndex, CountingReader]:
        reader = CountingReader(self.vectors)
        return TantivyKeywordIndex(reader, self.tmp_path / name), reader

    async def hits(self, keywords: TantivyKeywordIndex, query: str, k: int = 5) -> list[SearchHit]:
        terms = dict.fromkeys(keyword_terms(query), 1.0)
        return await keywords.query(self.collection, terms, k, await self.live())


@pytest.fixture
def docs(chroma_client: ClientAPI, corpus: Path, tmp_path: Path) -> Docs:
    return Docs(chroma_client, corpus, tmp_path)


async def test_a_restarted_index_answers_from_disk_without_reading_the_store(docs: Docs) -> None:
    await docs.index()
    keywords, reader = docs.replica("replica")
    before = [(hit.chunk.id, hit.score) for hit in await docs.hits(keywords, "UploadFile lifespan")]
    assert before and reader.reads == [None]  # a first sync reads the repository whole, once
    keywords.close()

    restarted, reader = docs.replica("replica")

    assert [(hit.chunk.id, hit.score) for hit in await docs.hits(restarted, "UploadFile lifespan")] == before
    assert reader.reads == []
    restarted.close()


async def test_keyword_hits_are_scored_by_the_vectors_read_from_the_store_also_after_a_restart(docs: Docs) -> None:
    await docs.index()
    embedder, query = HashingEmbedder(), "UploadFile lifespan"
    terms = dict.fromkeys(keyword_terms(query), 1.0)
    scored_by = QueryVector(embedder.name, await embedder.embed_query(query))
    keywords, _ = docs.replica("replica")
    first = await keywords.query(docs.collection, terms, 5, await docs.live(), scored_by)
    keywords.close()

    restarted, reader = docs.replica("replica")
    hits = await restarted.query(docs.collection, terms, 5, await docs.live(), scored_by)
    restarted.close()

    ids = [hit.chunk.id for hit in first]
    stored = await docs.vectors.similarities(docs.collection, embedder.name, scored_by.values, ids)
    assert len(hits) == 5 and [hit.chunk.id for hit in hits] == ids and reader.reads == []
    assert [hit.similarity for hit in hits] == [pytest.approx(stored[i], abs=1e-6) for i in ids]


async def test_an_index_of_an_earlier_schema_is_left_alone_and_a_new_one_caught_up_from_the_store(
    docs: Docs,
) -> None:
    await docs.index()
    earlier = tantivy.SchemaBuilder()
    earlier.add_text_field("terms", tokenizer_name="whitespace", index_option="freq")
    (docs.tmp_path / "replica" / docs.collection / "index").mkdir(parents=True)
    tantivy.Index(earlier.build(), path=str(docs.tmp_path / "replica" / docs.collection / "index"))

    keywords, reader = docs.replica("replica")

    assert (await docs.hits(keywords, "UploadFile"))[0].chunk.path == "tutorial/request-files.md"
    assert reader.reads == [None]
    keywords.close()


async def test_code_whose_file_or_symbol_is_named_outranks_code_that_only_mentions_it(docs: Docs) -> None:
    shutil.rmtree(docs.folder)
    docs.folder.mkdir()
    for name in ("habitat", "diet", "burrow", "island"):
        (docs.folder / f"{name}.py").write_text(f"{name.upper()} = {{}}\n")
    (docs.folder / "quokka.py").write_text("TABLE = {}\n")
    (docs.folder / "notes.py").write_text("# a quokka by the path and a quokka asleep\nNOTES = []\n")
    await docs.index()
    keywords, _ = docs.replica("replica")

    hits = await docs.hits(keywords, "quokka")

    assert [hit.chunk.path for hit in hits] == ["quokka.py", "notes.py"]
    keywords.close()


async def test_a_swap_reads_only_changed_versions_and_a_no_change_reindex_writes_nothing(docs: Docs) -> None:
    await docs.index()
    keywords, reader = docs.replica("replica")
    assert (await docs.hits(keywords, "UploadFile"))[0].chunk.path == "tutorial/request-files.md"
    index_files = docs.tmp_path / "replica" / docs.collection / f"index-{LAYOUT}"
    meta = (index_files / "meta.json").read_text()

    await docs.index()  # nothing changed
    await docs.hits(keywords, "UploadFile")
    assert reader.reads == [None] and (index_files / "meta.json").read_text() == meta

    (docs.folder / "tutorial/request-files.md").write_text("# Request Files\n\nSend bytes as a multipart form.\n")
    (docs.folder / "advanced/events.md").unlink()
    await docs.index()

    texts = [hit.chunk.text for hit in await docs.hits(keywords, "UploadFile lifespan startup")]
    assert not any("UploadFile" in text or "lifespan" in text for text in texts)
    assert (await docs.hits(keywords, "multipart"))[0].chunk.path == "tutorial/request-files.md"
    changed = (await docs.live())[docs.request.source.repository_id].files["tutorial/request-files.md"]
    assert reader.reads == [None, frozenset({changed})]
    keywords.close()


async def test_a_fresh_replica_catches_up_once_and_agrees_with_the_others(docs: Docs) -> None:
    await docs.index()
    first, _ = docs.replica("first")
    await docs.hits(first, "anything")
    (docs.folder / "tutorial/query-params.md").write_text("# Query\n\nA quokka parameter.\n")
    await docs.index()

    fresh, reader = docs.replica("fresh")
    for query in ("UploadFile", "quokka", "path parameters", "lifespan events"):
        caught_up, followed = await docs.hits(fresh, query), await docs.hits(first, query)
        # The same passages, the same best one; not the same scores, so near ties may swap: the replica that
        # followed the swap counts the chunks it deleted in BM25's statistics until tantivy merges them away.
        assert {hit.chunk for hit in caught_up} == {hit.chunk for hit in followed}
        assert caught_up[0].chunk == followed[0].chunk
    assert reader.reads == [None]
    first.close()
    fresh.close()


async def test_a_write_cut_short_is_redone_whole_at_the_next_start(docs: Docs) -> None:
    await docs.index()
    keywords, _ = docs.replica("replica")
    before = await docs.hits(keywords, "UploadFile lifespan", k=20)
    keywords.close()
    SyncedRefs(docs.tmp_path / "replica" / docs.collection / f"refs-{LAYOUT}").begin(docs.request.source.repository_id)

    restarted, reader = docs.replica("replica")

    assert await docs.hits(restarted, "UploadFile lifespan", k=20) == before  # no chunk twice, none lost
    assert reader.reads == [None]
    restarted.close()


async def test_refs_stay_side_by_side_across_a_restart(docs: Docs) -> None:
    repository = "acme/refs"
    release = await _indexed_by_hand(docs, repository, "v1", {"a.md": "UV_INDEX_URL picks the index."})
    main = await _indexed_by_hand(docs, repository, None, {"a.md": "UV_INDEX_URL picks a quokka index."})
    keywords, _ = docs.replica("replica")
    terms = dict.fromkeys(keyword_terms("UV_INDEX_URL"), 1.0)
    for manifest in (release, main):
        await keywords.query(docs.collection, terms, 5, {repository: manifest})
    keywords.close()

    restarted, reader = docs.replica("replica")
    for manifest, text in ((release, "the index"), (main, "a quokka index"), (release, "the index")):
        [hit] = await restarted.query(docs.collection, terms, 5, {repository: manifest})
        assert hit.chunk.text.endswith(f"picks {text}.")
    assert reader.reads == []
    restarted.close()


async def test_a_forgotten_repository_leaves_the_index_on_disk_and_its_records(docs: Docs) -> None:
    await docs.index()
    keywords, _ = docs.replica("replica")
    assert await docs.hits(keywords, "UploadFile")
    await ForgetRepository(docs.manifests, docs.vectors).execute(docs.request.source.repository_id, docs.collection)

    await keywords.retain(docs.collection, [(m.repository, m.ref) for m in (await docs.live()).values()])
    keywords.close()

    folder = docs.tmp_path / "replica" / docs.collection
    assert tantivy.Index.open(str(folder / f"index-{LAYOUT}")).searcher().num_docs == 0
    assert SyncedRefs(folder / f"refs-{LAYOUT}").load() == {}


async def test_a_second_process_on_a_taken_folder_searches_from_memory_and_says_why(
    docs: Docs, caplog: pytest.LogCaptureFixture
) -> None:
    await docs.index()
    keywords, _ = docs.replica("replica")
    owned = await docs.hits(keywords, "UploadFile lifespan")
    second, reader = docs.replica("replica")  # `repochat search` while `repochat serve` runs on the same folder

    assert [hit.chunk for hit in await docs.hits(second, "UploadFile lifespan")] == [hit.chunk for hit in owned]
    assert reader.reads == [None]  # caught up from the store, in memory
    assert "in use by another process" in caplog.text and "REPOCHAT_KEYWORD_INDEX_DIR" in caplog.text
    second.close()
    keywords.close()


async def _indexed_by_hand(docs: Docs, repository: str, ref: str | None, files: dict[str, str]) -> Manifest:
    """Store one chunk per file of `files` and the manifest of `ref` naming them."""
    chunks = []
    for path, text in files.items():
        sha = git_blob_sha(text.encode())
        chunks.append(Chunk(chunk_id(repository, path, sha, 0), repository, path, sha, "c", 0, text, 1, 1))
    vectors = await HashingEmbedder().embed_documents([chunk.text for chunk in chunks])
    await docs.vectors.upsert(docs.collection, HashingEmbedder().name, chunks, vectors)
    versions = {chunk.path: chunk.blob_sha for chunk in chunks}
    manifest = Manifest(
        repository, "github", f"commit-{ref}", versions, dict.fromkeys(versions, 1), ref=ref, chunker=CHUNKER_VERSION
    )
    await docs.manifests.save(docs.collection, manifest)
    return manifest
