"""The vector-index contract (tests/contracts/vector_index.py) held against ChromaVectorIndex on embedded
Chroma and on a real `chroma run` server (the `chroma_client` fixture gives both)."""

from __future__ import annotations

import pytest
from chromadb.api import ClientAPI

from adapters.vectorstore.chroma_index import ChromaVectorIndex
from tests.contracts.vector_index import VectorIndexContract


class TestChromaVectorIndex(VectorIndexContract):
    @pytest.fixture
    def vector_index(self, chroma_client: ClientAPI) -> ChromaVectorIndex:
        return ChromaVectorIndex(chroma_client)
