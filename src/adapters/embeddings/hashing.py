"""HashingEmbedder: a deterministic bag-of-words embedder with no model (tests, benchmarks)."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import math
import re
from collections.abc import Sequence

from application.ports.embeddings import Embedder

_WORD = re.compile(r"[A-Za-z0-9_]+")
_STOPWORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "how", "i", "if",
    "in", "is", "it", "of", "on", "or", "so", "that", "the", "this", "to", "use", "we", "what", "when",
    "where", "which", "will", "with", "you", "your",
))  # fmt: skip


class HashingEmbedder(Embedder):
    """Feature hashing of lowercase words (stopwords dropped) and word pairs into signed buckets.

    Texts sharing words get close vectors, which is enough to test retrieval end to end
    without downloading or loading a model.
    """

    def __init__(self, dimension: int = 512) -> None:
        self._dimension = dimension

    @property
    def name(self) -> str:
        return f"hashing-{self._dimension}"

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """In a thread: a batch of 64 chunks takes tens of milliseconds, which would stall the event loop."""
        return await asyncio.to_thread(self._vectors, list(texts))

    async def embed_query(self, text: str) -> list[float]:
        return self._vector(text)  # a tenth of a millisecond: less than the hop to a thread

    def _vectors(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(text) for text in texts]

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * self._dimension
        words = [w for w in (w.lower() for w in _WORD.findall(text)) if w not in _STOPWORDS]
        features = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
        for feature in features:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self._dimension
            vector[bucket] += 1.0 if digest[4] & 1 else -1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]
