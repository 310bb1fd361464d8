"""Settings whose default depends on another setting."""

from __future__ import annotations

import pytest

from entrypoints.settings import Settings

SERVER = "http://127.0.0.1:8000"


def test_the_keyword_index_keeps_vectors_by_default_with_embedded_chroma_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPOCHAT_KEYWORD_VECTORS", raising=False)
    assert Settings(chroma_url=None).keyword_index_vectors
    assert not Settings(chroma_url=SERVER).keyword_index_vectors  # a catch-up would read them as JSON

    monkeypatch.setenv("REPOCHAT_KEYWORD_VECTORS", "true")
    assert Settings(chroma_url=SERVER).keyword_index_vectors
    monkeypatch.setenv("REPOCHAT_KEYWORD_VECTORS", "false")
    assert not Settings(chroma_url=None).keyword_index_vectors
