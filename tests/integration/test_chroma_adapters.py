"""ChromaVectorIndex and ChromaManifestStore on embedded Chroma and on a real `chroma run` server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from chromadb.api import ClientAPI

from adapters.data_dir_lock import DataDirLock
from adapters.embeddings.hashing import HashingEmbedder
from adapters.vectorstore.chroma_client import open_chroma_server, open_embedded_chroma
from adapters.vectorstore.chroma_index import ChromaVectorIndex
from adapters.vectorstore.chroma_manifests import ChromaManifestStore
from domain.documents import Chunk, Manifest
from domain.errors import Conflict, UpstreamUnavailable


@pytest.fixture(params=["embedded", "server"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ClientAPI]:
    if request.param == "embedded":
        lock = DataDirLock(tmp_path, "test")
        lock.acquire()
        yield open_embedded_chroma(tmp_path, lock)
        lock.release()
    else:
        yield open_chroma_server(request.getfixturevalue("chroma_server"))


def chunk(n: int, text: str, repository: str = "owner/repo") -> Chunk:
    return Chunk(f"id-{n}", repository, f"docs/{n}.md", f"sha{n}", "c0ffee", 0, text, 1, 4, ("Guide", f"Part {n}"))


async def test_upsert_query_and_delete_round_trip(client: ClientAPI) -> None:
    index, embedder = ChromaVectorIndex(client), HashingEmbedder()
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
    assert collection in [c.name for c in client.list_collections()]


async def test_query_filters_by_repository_and_tolerates_a_missing_collection(client: ClientAPI) -> None:
    index, embedder = ChromaVectorIndex(client), HashingEmbedder()
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


async def test_a_collection_refuses_vectors_of_another_embedder(client: ClientAPI) -> None:
    index = ChromaVectorIndex(client)
    collection = f"test-{uuid.uuid4().hex[:8]}"
    first = HashingEmbedder(64)
    assert await index.existing_ids(collection, ["id-1"]) == set()  # as indexing does, before its first write
    await index.upsert(collection, first.name, [chunk(1, "x")], await first.embed_documents(["x"]))
    with pytest.raises(Conflict, match="REPOCHAT_EMBEDDINGS"):
        await ChromaVectorIndex(client).query(collection, "another-model", [0.0] * 64, 1)


async def test_manifests_save_atomically_and_list_by_collection(client: ClientAPI) -> None:
    store = ChromaManifestStore(client)
    name = f"test-{uuid.uuid4().hex[:8]}"
    files = {f"docs/{i}.md": f"{i:040d}" for i in range(3000)}
    manifest = Manifest("owner/repo", "github:owner/repo", "abc", files, dict.fromkeys(files, 2), "now", "main", "etag")
    await store.save(name, manifest)
    assert await store.get(name, "owner/repo") == manifest
    assert (name, manifest) in await store.entries(name)
    await store.delete(name, "owner/repo")
    assert await store.get(name, "owner/repo") is None


async def test_an_unreachable_server_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamUnavailable):
        index = ChromaVectorIndex(open_chroma_server("http://127.0.0.1:9"))
        await index.ping()
