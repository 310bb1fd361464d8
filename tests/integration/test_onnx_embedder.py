"""The real offline model, loaded from the installed wheels with no network."""

from __future__ import annotations

import math

from adapters.embeddings.local import OnnxMiniLMEmbedder


async def test_offline_model_embeds_meaningfully() -> None:
    embedder = OnnxMiniLMEmbedder()
    question = await embedder.embed_query("How do I declare an optional query parameter?")
    related, unrelated = await embedder.embed_documents(
        ["Query parameters become optional when you give them a default of None.", "The cat sat on the mat."]
    )
    assert len(question) == 384
    assert math.isclose(sum(v * v for v in question), 1.0, rel_tol=1e-3)

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(question, related) > 0.5 > cosine(question, unrelated)
    assert await embedder.embed_query("How do I declare an optional query parameter?") == question
