"""Retrieval quality metrics: hit@k and mean reciprocal rank over gold paths."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class EvalCase:
    question: str
    gold: tuple[str, ...]


@dataclass(frozen=True)
class EvalReport:
    cases: int
    k: int
    hit_at_k: float
    mrr: float
    misses: tuple[str, ...]


def first_gold_rank(ranked_paths: Sequence[str], gold: Sequence[str]) -> int | None:
    """1-based rank of the first retrieved path that is gold (a suffix match counts)."""
    for rank, path in enumerate(ranked_paths, start=1):
        if any(path == g or path.endswith("/" + g.lstrip("/")) for g in gold):
            return rank
    return None


def score(ranks: Sequence[int | None], questions: Sequence[str], k: int) -> EvalReport:
    if not ranks:
        return EvalReport(0, k, 0.0, 0.0, ())
    hits = sum(1 for r in ranks if r is not None and r <= k)
    mrr = sum(1.0 / r for r in ranks if r is not None and r <= k) / len(ranks)
    misses = tuple(q for q, r in zip(questions, ranks, strict=True) if r is None or r > k)
    return EvalReport(len(ranks), k, hits / len(ranks), mrr, misses)
