"""ChromaVectorIndex and ChromaManifestStore on embedded Chroma and on a real `chroma run` server, beyond the
vector-index contract (test_vector_index_contract.py)."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace

import numpy as np
import pytest
from chromadb.api import ClientAPI

from adapters.embeddings.hashing import HashingEmbedder
from adapters.vectorstore.chroma_client import open_chroma_server
from adapters.vectorstore.chroma_index import KEYWORD_TERMS, VECTORS_PER_READ, ChromaVectorIndex, _vectors
from adapters.vectorstore.chroma_manifests import ChromaManifestStore
from domain.chunking import embedding_text
from domain.documents import Chunk, Manifest
from domain.errors import UpstreamUnavailable
from domain.keywords import keyword_terms


def chunk(n: int, text: str, repository: str = "owner/repo") -> Chunk:
    return Chunk(f"id-{n}", repository, f"docs/{n}.md", f"sha{n}", "c0ffee", 0, text, 1, 4, ("Guide", f"Part {n}"))


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


async def test_keyword_chunks_carry_their_stored_terms_computed_only_for_chunks_written_without_and_vectors(
    chroma_client: ClientAPI,
) -> None:
    index, embedder = ChromaVectorIndex(chroma_client), HashingEmbedder()
    collection = f"test-{uuid.uuid4().hex[:8]}"
    chunks = [chunk(1, "Use the model_validator decorator."), chunk(2, "An older chunk.")]
    vectors = await embedder.embed_documents([c.text for c in chunks])
    await index.upsert(collection, embedder.name, chunks, vectors)
    written = chroma_client.get_collection(collection)
    written.update(ids=["id-1"], metadatas=[{KEYWORD_TERMS: "stored terms"}])
    written.update(ids=["id-2"], metadatas=[{KEYWORD_TERMS: None}])  # as a build before the terms were stored wrote it

    read = {stored.chunk.id: stored for stored in await index.keyword_chunks(collection, "owner/repo")}

    assert read["id-1"].terms == "stored terms"  # read as written, not computed again
    assert read["id-2"].terms == " ".join(keyword_terms(embedding_text(chunks[1])))
    assert [stored.chunk for stored in read.values()] == chunks
    stored = [s.vector for s in read.values()]
    labelled = [(v.embedder, np.frombuffer(v.values, np.float32).tolist()) if v else None for v in stored]
    assert labelled == [(embedder.name, pytest.approx(vector, abs=1e-7)) for vector in vectors]
    unlabelled = await ChromaVectorIndex(chroma_client, keyword_vectors=False).keyword_chunks(collection, "owner/repo")
    assert [(s.chunk, s.vector) for s in unlabelled] == [(c, None) for c in chunks]


async def test_vectors_read_in_several_reads_go_each_to_its_own_chunk_whatever_order_chroma_answers_in(
    chroma_client: ClientAPI,
) -> None:
    index, embedder = ChromaVectorIndex(chroma_client), HashingEmbedder()
    collection = f"test-{uuid.uuid4().hex[:8]}"
    chunks = [chunk(n, f"Passage {n} of the guide, topic {n * 7919 % 997}.") for n in range(2 * VECTORS_PER_READ + 1)]
    vectors = dict(zip([c.id for c in chunks], await embedder.embed_documents([c.text for c in chunks]), strict=True))
    await index.upsert(collection, embedder.name, chunks, list(vectors.values()))
    asked = [*(c.id for c in chunks), "deleted-meanwhile"]
    random.Random(7).shuffle(asked)

    read = dict(zip(asked, _vectors(chroma_client.get_collection(collection), embedder.name, asked), strict=True))

    assert read.pop("deleted-meanwhile") is None
    for chunk_id, stored in read.items():
        assert stored is not None and stored.embedder == embedder.name
        assert np.frombuffer(stored.values, np.float32).tolist() == pytest.approx(vectors[chunk_id], abs=1e-7)
    assert [s.chunk for s in await index.keyword_chunks(collection, "owner/repo")] == chunks


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
