"""QueryCachingEmbedder: an `Embedder` that remembers the vectors of recent queries.

People ask the same things again (the suggested questions of a chat page, a retried request,
the same search from several tabs); a query's vector costs a model run (tens of milliseconds
on the offline model, a paid round trip on OpenAI) but only 1.5 KB to keep.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from application.ports.embeddings import Embedder


class QueryCachingEmbedder(Embedder):
    """Caches `embed_query` by exact text, least recently used first out; documents pass straight through.

    Concurrency: the cache is only read and written between awaits, so asyncio tasks sharing it
    cannot corrupt it. Two concurrent calls for the same text that is not cached yet both ask the
    inner embedder (they would get the same vector); sharing one computation would tie the second
    caller to the first one's cancellation, and a miss costs no more than it does without a cache.
    Failures are not cached. Callers get a fresh list each time, so mutating it never alters the cache.
    """

    def __init__(self, inner: Embedder, size: int = 1024) -> None:
        if size < 1:
            raise ValueError(f"the query cache needs room for at least one vector, not {size}")
        self._inner = inner
        self._size = size
        self._vectors: OrderedDict[str, tuple[float, ...]] = OrderedDict()

    @property
    def name(self) -> str:
        return self._inner.name

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return await self._inner.embed_documents(texts)

    async def embed_query(self, text: str) -> list[float]:
        cached = self._vectors.get(text)
        if cached is not None:
            self._vectors.move_to_end(text)
            return list(cached)
        vector = await self._inner.embed_query(text)
        self._vectors[text] = tuple(vector)
        self._vectors.move_to_end(text)
        while len(self._vectors) > self._size:
            self._vectors.popitem(last=False)
        return list(vector)
