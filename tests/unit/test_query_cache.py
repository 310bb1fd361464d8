"""QueryCachingEmbedder: query vectors are remembered by exact text, least recently used out first."""

from __future__ import annotations

import asyncio

import pytest

from adapters.embeddings.query_cache import QueryCachingEmbedder
from tests.unit.fakes import RecordingEmbedder


class QueryRecordingEmbedder(RecordingEmbedder):
    """RecordingEmbedder that also records the queries it embeds, and fails the ones listed in `failing`."""

    def __init__(self) -> None:
        super().__init__()
        self.queries: list[str] = []
        self.failing: set[str] = set()

    async def embed_query(self, text: str) -> list[float]:
        self.queries.append(text)
        await asyncio.sleep(0)  # a real embedder awaits its model or API: let other tasks run meanwhile
        if text in self.failing:
            raise RuntimeError("embedding service down")
        return await super().embed_query(text)


@pytest.fixture
def inner() -> QueryRecordingEmbedder:
    return QueryRecordingEmbedder()


async def test_a_repeated_query_is_embedded_once(inner: QueryRecordingEmbedder) -> None:
    cache = QueryCachingEmbedder(inner)

    first = await cache.embed_query("optional query parameter")
    second = await cache.embed_query("optional query parameter")

    assert inner.queries == ["optional query parameter"]
    assert first == second == await RecordingEmbedder().embed_query("optional query parameter")


async def test_texts_are_matched_exactly(inner: QueryRecordingEmbedder) -> None:
    cache = QueryCachingEmbedder(inner)

    for text in ("Path parameters", "path parameters", "Path parameters "):
        await cache.embed_query(text)

    assert inner.queries == ["Path parameters", "path parameters", "Path parameters "]


async def test_the_least_recently_used_query_is_evicted(inner: QueryRecordingEmbedder) -> None:
    cache = QueryCachingEmbedder(inner, size=2)

    await cache.embed_query("alpha")
    await cache.embed_query("beta")
    await cache.embed_query("alpha")  # a hit: alpha is now the most recently used
    await cache.embed_query("gamma")  # evicts beta
    await cache.embed_query("alpha")
    await cache.embed_query("beta")

    assert inner.queries == ["alpha", "beta", "gamma", "beta"]


async def test_documents_are_not_cached(inner: QueryRecordingEmbedder) -> None:
    cache = QueryCachingEmbedder(inner)

    first = await cache.embed_documents(["alpha", "beta"])
    second = await cache.embed_documents(["alpha", "beta"])

    assert first == second
    assert inner.embedded == ["alpha", "beta", "alpha", "beta"]
    await cache.embed_query("alpha")
    assert inner.queries == ["alpha"]  # a document's vector does not serve a query either


async def test_the_name_is_the_inner_embedders(inner: QueryRecordingEmbedder) -> None:
    assert QueryCachingEmbedder(inner).name == inner.name


async def test_changing_a_returned_vector_leaves_the_cached_one_alone(inner: QueryRecordingEmbedder) -> None:
    cache = QueryCachingEmbedder(inner)

    vector = await cache.embed_query("alpha")
    expected = list(vector)
    vector[0] = 42.0

    assert await cache.embed_query("alpha") == expected


async def test_failures_are_not_cached(inner: QueryRecordingEmbedder) -> None:
    cache = QueryCachingEmbedder(inner)
    inner.failing.add("alpha")
    with pytest.raises(RuntimeError):
        await cache.embed_query("alpha")

    inner.failing.clear()
    vector = await cache.embed_query("alpha")

    assert vector == await cache.embed_query("alpha")
    assert inner.queries == ["alpha", "alpha"]


async def test_concurrent_misses_of_one_text_each_get_the_vector_and_fill_one_entry(
    inner: QueryRecordingEmbedder,
) -> None:
    cache = QueryCachingEmbedder(inner, size=1)

    vectors = await asyncio.gather(*(cache.embed_query("alpha") for _ in range(3)))
    await cache.embed_query("alpha")

    assert vectors[0] == vectors[1] == vectors[2]
    assert inner.queries == ["alpha"] * 3  # all three missed together; the fourth call was a hit


def test_a_cache_needs_room_for_one_vector(inner: QueryRecordingEmbedder) -> None:
    with pytest.raises(ValueError, match="at least one"):
        QueryCachingEmbedder(inner, size=0)
