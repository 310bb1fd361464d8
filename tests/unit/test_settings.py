"""Settings whose default depends on another setting."""

from __future__ import annotations

from entrypoints.settings import Settings

SERVER = "http://127.0.0.1:8000"


def test_the_keyword_index_keeps_vectors_by_default_with_embedded_chroma_only() -> None:
    assert Settings(chroma_url=None).keyword_index_vectors
    assert not Settings(chroma_url=SERVER).keyword_index_vectors  # a catch-up would read them as JSON
    assert Settings(chroma_url=SERVER, keyword_vectors=True).keyword_index_vectors
    assert not Settings(chroma_url=None, keyword_vectors=False).keyword_index_vectors
