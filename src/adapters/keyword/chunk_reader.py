"""What a keyword index reads from the vector store, the one source of truth: chunks, their terms and vectors."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from domain.documents import Chunk


@dataclass(frozen=True)
class StoredVector:
    """A chunk's vector as the store holds it: float32 values, and the embedder the store labels them with."""

    embedder: str
    values: bytes


@dataclass(frozen=True)
class KeywordChunk:
    """A stored chunk and its keyword terms (`domain.keywords`), space-separated, computed when it was written;
    and its vector, so the keyword leg scores its hits by the query's vector without reading them again."""

    chunk: Chunk
    terms: str
    vector: StoredVector | None = None


class ChunkReader(Protocol):
    """What the keyword index reads from the vector store (ChromaVectorIndex)."""

    async def keyword_chunks(
        self, collection: str, repository: str, blob_shas: Collection[str] | None = None
    ) -> list[KeywordChunk]:
        """The stored chunks (with their text, terms and vectors) of `repository`, of file versions in
        `blob_shas` only when given."""
        ...
