"""What a keyword index reads from the vector store, the one source of truth: chunks and their terms."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from domain.documents import Chunk


@dataclass(frozen=True)
class KeywordChunk:
    """A stored chunk and its keyword terms (`domain.keywords`), space-separated, computed when it was written."""

    chunk: Chunk
    terms: str


class ChunkReader(Protocol):
    """What the keyword index reads from the vector store (ChromaVectorIndex)."""

    async def keyword_chunks(
        self, collection: str, repository: str, blob_shas: Collection[str] | None = None
    ) -> list[KeywordChunk]:
        """The stored chunks (with their text and terms) of `repository`, of file versions in `blob_shas` only
        when given."""
        ...
