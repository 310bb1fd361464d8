"""The vector-index contract (tests/contracts/vector_index.py) held against the fake the unit tests use."""

from __future__ import annotations

import pytest

from tests.contracts.vector_index import VectorIndexContract
from tests.unit.fakes import InMemoryVectorIndex


class TestInMemoryVectorIndex(VectorIndexContract):
    @pytest.fixture
    def vector_index(self) -> InMemoryVectorIndex:
        return InMemoryVectorIndex()
