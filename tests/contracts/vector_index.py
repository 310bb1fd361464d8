"""The behaviour every `VectorIndex` keeps, written once and run against each implementation.

A test module subclasses `VectorIndexContract` and gives the `vector_index` fixture: the fake of
the unit tests (tests/unit/test_vector_index_contract.py), embedded Chroma and a Chroma server
(tests/integration/test_vector_index_contract.py). Collections are named per test, so an
implementation shared by several tests (a Chroma server) needs no cleaning.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence

import pytest

from application.ports.stores import StoredChunk, VectorIndex, VectorQuery
from domain.content_keys import content_key
from domain.documents import Chunk
from domain.errors import Conflict

EMBEDDER = "contract-embedder"


def chunk(n: int, repository: str = "acme/docs", text: str = "", blob_sha: str = "") -> Chunk:
    return Chunk(
        id=f"chunk-{n}",
        repository=repository,
        path=f"docs/{n}.md",
        blob_sha=blob_sha or f"sha-{n}",
        commit="c0ffee",
        ordinal=n,
        text=text or f"passage {n}",
        start_line=n,
        end_line=n + 3,
        headings=("Guide", f"Part {n}"),
    )


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (math.hypot(*a) * math.hypot(*b))


QUERY = [1.0, 0.0, 0.0]
NEAR, MIDDLE, FAR = [2.0, 0.2, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 3.0]
"""Vectors of decreasing cosine to QUERY, of other lengths: scores are cosines, not dot products."""


class VectorIndexContract:
    @pytest.fixture
    def collection(self) -> str:
        return f"contract-{uuid.uuid4().hex[:8]}"

    async def test_upserted_chunks_exist_and_deleted_ones_do_not(
        self, vector_index: VectorIndex, collection: str
    ) -> None:
        await vector_index.upsert(collection, EMBEDDER, [chunk(1), chunk(2)], [NEAR, FAR])

        assert await vector_index.existing_ids(collection, ["chunk-1", "chunk-2", "chunk-9"]) == {"chunk-1", "chunk-2"}
        await vector_index.delete(collection, ["chunk-1", "chunk-9"])
        assert await vector_index.existing_ids(collection, ["chunk-1", "chunk-2"]) == {"chunk-2"}

    async def test_a_chunk_reads_back_as_it_was_stored(self, vector_index: VectorIndex, collection: str) -> None:
        stored = chunk(1, text="<Note>Optional parameters</Note>")
        marked = Chunk(**{**stored.__dict__, "search_text": "Optional parameters"})
        await vector_index.upsert(collection, EMBEDDER, [marked, chunk(2)], [NEAR, FAR])

        [hit] = await vector_index.query(VectorQuery(collection, EMBEDDER, QUERY, 1))

        assert hit.chunk == marked

    async def test_upserting_an_id_again_replaces_its_chunk_and_vector(
        self, vector_index: VectorIndex, collection: str
    ) -> None:
        await vector_index.upsert(collection, EMBEDDER, [chunk(1, text="old")], [FAR])
        await vector_index.upsert(collection, EMBEDDER, [chunk(1, text="new")], [NEAR])

        hits = await vector_index.query(VectorQuery(collection, EMBEDDER, QUERY, 5))

        assert [(h.chunk.text, round(h.score, 4)) for h in hits] == [("new", round(cosine(NEAR, QUERY), 4))]

    async def test_query_ranks_by_cosine_similarity_and_returns_at_most_k(
        self, vector_index: VectorIndex, collection: str
    ) -> None:
        await vector_index.upsert(collection, EMBEDDER, [chunk(1), chunk(2), chunk(3)], [FAR, NEAR, MIDDLE])

        hits = await vector_index.query(VectorQuery(collection, EMBEDDER, QUERY, 2))
        everything = await vector_index.query(VectorQuery(collection, EMBEDDER, QUERY, 10))

        assert [h.chunk.id for h in hits] == ["chunk-2", "chunk-3"]
        assert [h.score for h in hits] == pytest.approx([cosine(NEAR, QUERY), cosine(MIDDLE, QUERY)], abs=1e-5)
        assert [h.chunk.id for h in everything] == ["chunk-2", "chunk-3", "chunk-1"]

    async def test_query_keeps_one_repository_and_chosen_file_versions(
        self, vector_index: VectorIndex, collection: str
    ) -> None:
        chunks = [chunk(1, "acme/docs"), chunk(2, "acme/docs"), chunk(3, "other/fork")]
        await vector_index.upsert(collection, EMBEDDER, chunks, [NEAR, MIDDLE, NEAR])

        async def ids(repositories: set[str] | None = None, blob_shas: set[str] | None = None) -> list[str]:
            hits = await vector_index.query(VectorQuery(collection, EMBEDDER, QUERY, 10, repositories, blob_shas))
            return sorted(h.chunk.id for h in hits)

        assert await ids({"other/fork"}) == ["chunk-3"]
        assert await ids({"other/fork", "acme/docs"}) == ["chunk-1", "chunk-2", "chunk-3"]
        assert await ids(blob_shas={"sha-2", "sha-3"}) == ["chunk-2", "chunk-3"]
        assert await ids({"acme/docs"}, {"sha-2", "sha-3"}) == ["chunk-2"]
        assert await ids({"acme/docs"}, {"sha-unknown"}) == []
        assert await ids({"nobody/else"}) == []
        assert await ids(set()) == []

    async def test_stored_chunks_are_every_chunk_of_the_repository(
        self, vector_index: VectorIndex, collection: str
    ) -> None:
        chunks = [chunk(1, "acme/docs"), chunk(2, "acme/docs", blob_sha="sha-shared"), chunk(3, "other/fork")]
        await vector_index.upsert(collection, EMBEDDER, chunks, [NEAR, MIDDLE, FAR])

        stored = await vector_index.stored_chunks(collection, "acme/docs")

        assert sorted(stored, key=lambda s: s.id) == [
            StoredChunk("chunk-1", "docs/1.md", "sha-1"),
            StoredChunk("chunk-2", "docs/2.md", "sha-shared"),
        ]
        assert await vector_index.stored_chunks(collection, "nobody/else") == []

    async def test_collections_are_the_sorted_names_chunks_were_written_to(
        self, vector_index: VectorIndex, collection: str
    ) -> None:
        second = f"{collection}-b"
        await vector_index.upsert(second, EMBEDDER, [chunk(1)], [NEAR])
        await vector_index.upsert(collection, EMBEDDER, [chunk(1)], [NEAR])

        listed = await vector_index.collections()

        assert [name for name in listed if name.startswith(collection)] == [collection, second]
        assert listed == sorted(listed)

    async def test_similarities_are_cosines_of_the_stored_ids_asked_for(
        self, vector_index: VectorIndex, collection: str
    ) -> None:
        await vector_index.upsert(collection, EMBEDDER, [chunk(1), chunk(2), chunk(3)], [NEAR, MIDDLE, FAR])

        scores = await vector_index.similarities(collection, EMBEDDER, QUERY, ["chunk-1", "chunk-3", "chunk-9"])
        hits = await vector_index.query(VectorQuery(collection, EMBEDDER, QUERY, 3))

        assert scores == pytest.approx({"chunk-1": cosine(NEAR, QUERY), "chunk-3": 0.0}, abs=1e-5)
        assert {h.chunk.id: h.score for h in hits if h.chunk.id in scores} == pytest.approx(scores, abs=1e-5)
        assert await vector_index.similarities(collection, EMBEDDER, QUERY, ["chunk-9"]) == {}

    async def test_vectors_by_content_finds_keys_of_any_repository(
        self, vector_index: VectorIndex, collection: str
    ) -> None:
        fork = chunk(1, "other/fork")
        await vector_index.upsert(collection, EMBEDDER, [chunk(1), chunk(2)], [NEAR, MIDDLE])

        found = await vector_index.vectors_by_content(collection, EMBEDDER, [content_key(fork), "no-such-key"])

        assert content_key(fork) == content_key(chunk(1))  # same path, headings and text: one key
        assert list(found) == [content_key(fork)]
        assert found[content_key(fork)] == pytest.approx(NEAR, abs=1e-6)

    async def test_a_collection_that_does_not_exist_is_empty(self, vector_index: VectorIndex, collection: str) -> None:
        assert await vector_index.existing_ids(collection, ["chunk-1"]) == set()
        assert await vector_index.query(VectorQuery(collection, EMBEDDER, QUERY, 5)) == []
        assert await vector_index.stored_chunks(collection, "acme/docs") == []
        assert await vector_index.similarities(collection, EMBEDDER, QUERY, ["chunk-1"]) == {}
        assert await vector_index.vectors_by_content(collection, EMBEDDER, [content_key(chunk(1))]) == {}
        await vector_index.delete(collection, ["chunk-1"])
        assert collection not in await vector_index.collections()

    async def test_empty_inputs_change_nothing_and_find_nothing(
        self, vector_index: VectorIndex, collection: str
    ) -> None:
        await vector_index.upsert(collection, EMBEDDER, [chunk(1)], [NEAR])

        await vector_index.upsert(collection, EMBEDDER, [], [])
        await vector_index.delete(collection, [])

        assert await vector_index.existing_ids(collection, []) == set()
        assert await vector_index.query(VectorQuery(collection, EMBEDDER, QUERY, 5, blob_shas=set())) == []
        assert await vector_index.similarities(collection, EMBEDDER, QUERY, []) == {}
        assert await vector_index.vectors_by_content(collection, EMBEDDER, []) == {}
        assert await vector_index.existing_ids(collection, ["chunk-1"]) == {"chunk-1"}

    async def test_a_collection_refuses_another_embedder(self, vector_index: VectorIndex, collection: str) -> None:
        await vector_index.upsert(collection, EMBEDDER, [chunk(1)], [NEAR])
        key = content_key(chunk(1))

        with pytest.raises(Conflict, match="REPOCHAT_EMBEDDINGS"):
            await vector_index.upsert(collection, "another-model", [chunk(2)], [NEAR])
        with pytest.raises(Conflict, match="REPOCHAT_EMBEDDINGS"):
            await vector_index.query(VectorQuery(collection, "another-model", QUERY, 5))
        with pytest.raises(Conflict, match="REPOCHAT_EMBEDDINGS"):
            await vector_index.similarities(collection, "another-model", QUERY, ["chunk-1"])
        with pytest.raises(Conflict, match="REPOCHAT_EMBEDDINGS"):
            await vector_index.vectors_by_content(collection, "another-model", [key])
        assert await vector_index.existing_ids(collection, ["chunk-1", "chunk-2"]) == {"chunk-1"}
