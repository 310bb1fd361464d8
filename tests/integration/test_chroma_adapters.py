"""ChromaVectorIndex and ChromaManifestStore on embedded Chroma and on a real `chroma run` server."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from chromadb.api import ClientAPI

from adapters.embeddings.hashing import HashingEmbedder
from adapters.vectorstore.chroma_client import open_chroma_server
from adapters.vectorstore.chroma_index import ChromaVectorIndex
from adapters.vectorstore.chroma_manifests import ChromaManifestStore
from domain.documents import Chunk, Manifest
from domain.errors import Conflict, UpstreamUnavailable


def chunk(n: int, text: str, repository: str = "owner/repo") -> Chunk:
    return Chunk(f"id-{n}", repository, f"docs/{n}.md", f"sha{n}", "c0ffee", 0, text, 1, 4, ("Guide", f"Part {n}"))


async def test_upsert_query_and_delete_round_trip(chroma_client: ClientAPI) -> None:
    index, embedder = ChromaVectorIndex(chroma_client), HashingEmbedder()
    collection = f"test-{uuid.uuid4().hex[:8]}"
    chunks = [chunk(1, "optional query parameters default None"), chunk(2, "websocket connections and events")]
    await index.upsert(collection, embedder.name, chunks, await embedder.embed_documents([c.text for c in chunks]))

    hits = await index.query(collection, embedder.name, await embedder.embed_query("optional query parameters"), 2)
    assert [h.chunk.id for h in hits] == ["id-1", "id-2"]
    assert hits[0].chunk == chunks[0]
    assert 0.5 < hits[0].score <= 1.0001 and hits[1].score < hits[0].score

    assert await index.existing_ids(collection, ["id-1", "id-9"]) == {"id-1"}
    await index.delete(collection, ["id-1"])
    assert await index.existing_ids(collection, ["id-1", "id-2"]) == {"id-2"}
    assert collection in [c.name for c in chroma_client.list_collections()]


async def test_query_filters_by_repository_and_tolerates_a_missing_collection(chroma_client: ClientAPI) -> None:
    index, embedder = ChromaVectorIndex(chroma_client), HashingEmbedder()
    collection = f"test-{uuid.uuid4().hex[:8]}"
    chunks = [chunk(1, "same words here", "a/one"), chunk(2, "same words here", "b/two")]
    await index.upsert(collection, embedder.name, chunks, await embedder.embed_documents([c.text for c in chunks]))
    vector = await embedder.embed_query("same words")
    assert [h.chunk.repository for h in await index.query(collection, embedder.name, vector, 5, "b/two")] == ["b/two"]
    assert await index.query("never-created", embedder.name, vector, 5) == []

    only_sha2 = await index.query(collection, embedder.name, vector, 5, blob_shas={"sha2"})
    assert [h.chunk.id for h in only_sha2] == ["id-2"]
    both = await index.query(collection, embedder.name, vector, 5, "a/one", blob_shas={"sha1", "sha2"})
    assert [h.chunk.id for h in both] == ["id-1"]


async def test_a_collection_refuses_vectors_of_another_embedder(chroma_client: ClientAPI) -> None:
    index = ChromaVectorIndex(chroma_client)
    collection = f"test-{uuid.uuid4().hex[:8]}"
    first = HashingEmbedder(64)
    assert await index.existing_ids(collection, ["id-1"]) == set()  # as indexing does, before its first write
    await index.upsert(collection, first.name, [chunk(1, "x")], await first.embed_documents(["x"]))
    with pytest.raises(Conflict, match="REPOCHAT_EMBEDDINGS"):
        await ChromaVectorIndex(chroma_client).query(collection, "another-model", [0.0] * 64, 1)


async def test_manifests_save_atomically_and_list_by_collection(chroma_client: ClientAPI) -> None:
    store = ChromaManifestStore(chroma_client)
    name = f"test-{uuid.uuid4().hex[:8]}"
    files = {f"docs/{i}.md": f"{i:040d}" for i in range(3000)}
    manifest = Manifest("owner/repo", "github:owner/repo", "abc", files, dict.fromkeys(files, 2), "now", "main", "etag")
    await store.save(name, manifest)
    assert await store.get(name, "owner/repo", "main") == manifest
    assert (name, manifest) in await store.entries(name)
    await store.delete(name, "owner/repo", "main")
    assert await store.get(name, "owner/repo", "main") is None


async def test_an_unreachable_server_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamUnavailable):
        index = ChromaVectorIndex(open_chroma_server("http://127.0.0.1:9"))
        await index.ping()


async def test_chunks_read_back_with_their_text_for_chosen_versions_or_all(chroma_client: ClientAPI) -> None:
    index, embedder = ChromaVectorIndex(chroma_client), HashingEmbedder()
    collection = f"test-{uuid.uuid4().hex[:8]}"
    chunks = [chunk(n, f"text {n}") for n in range(4)] + [chunk(9, "elsewhere", "other/repo")]
    chunks[0] = replace(chunks[0], text="<Callout>text 0</Callout>", search_text="text 0")
    await index.upsert(collection, embedder.name, chunks, await embedder.embed_documents([c.text for c in chunks]))

    everything = await index.chunks(collection, "owner/repo")
    chosen = await index.chunks(collection, "owner/repo", {"sha1", "sha3", "sha9"})

    assert sorted(everything, key=lambda c: c.id) == chunks[:4]
    assert sorted(c.id for c in chosen) == ["id-1", "id-3"]
    assert await index.chunks("never-created", "owner/repo") == []


async def test_manifests_are_parsed_again_only_when_saved_again(chroma_client: ClientAPI) -> None:
    writer, reader = ChromaManifestStore(chroma_client), ChromaManifestStore(chroma_client)  # two replicas
    name = f"test-{uuid.uuid4().hex[:8]}"
    first = Manifest("owner/repo", "github:owner/repo", "abc", {"a.md": "1" * 40}, {"a.md": 1}, "now")
    await writer.save(name, first)

    read_once = await reader.get(name, "owner/repo", None)
    assert read_once == first
    assert await reader.get(name, "owner/repo", None) is read_once  # unchanged stamp: the parsed manifest is reused
    [(_, listed)] = await reader.entries(name)
    assert listed is read_once

    second = Manifest("owner/repo", "github:owner/repo", "def", {"a.md": "2" * 40}, {"a.md": 1}, "later")
    await writer.save(name, second)
    assert await reader.get(name, "owner/repo", None) == second
    await writer.delete(name, "owner/repo", None)
    assert await reader.get(name, "owner/repo", None) is None and await reader.entries(name) == []


async def test_similarities_of_chosen_chunks_are_their_cosines(chroma_client: ClientAPI) -> None:
    index, embedder = ChromaVectorIndex(chroma_client), HashingEmbedder()
    collection = f"test-{uuid.uuid4().hex[:8]}"
    chunks = [chunk(1, "optional query parameters default None"), chunk(2, "websocket connections and events")]
    await index.upsert(collection, embedder.name, chunks, await embedder.embed_documents([c.text for c in chunks]))
    vector = await embedder.embed_query("optional query parameters")

    scores = await index.similarities(collection, embedder.name, vector, ["id-1", "id-2", "id-9"])
    hits = await index.query(collection, embedder.name, vector, 2)

    assert set(scores) == {"id-1", "id-2"}
    assert all(abs(scores[h.chunk.id] - h.score) < 1e-5 for h in hits)
    assert await index.similarities("never-created", embedder.name, vector, ["id-1"]) == {}
