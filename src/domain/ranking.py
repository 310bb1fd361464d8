"""Rank fusion and diversity: how the dense and keyword rankings become one list of hits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from domain.answers import SearchHit


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[SearchHit]], weights: Sequence[float], k: int = 60, by_file: bool = False
) -> list[SearchHit]:
    """Fuse rankings by RRF: a chunk at rank r (1-based) of ranking i adds weights[i] / (k + r).

    Ranks, not scores, are fused, so cosine similarities and BM25 scores never need a common
    scale. A fused hit keeps the dense similarity and keyword score of every leg that found it.
    """
    fused: dict[str, SearchHit] = {}
    totals: dict[str, float] = {}
    file_totals: dict[tuple[str, str], float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        file_ranks: dict[tuple[str, str], int] = {}
        for rank, hit in enumerate(ranking, start=1):
            key = hit.chunk.id
            totals[key] = totals.get(key, 0.0) + weight / (k + rank)
            known = fused.get(key)
            fused[key] = hit if known is None or known is hit else _merge(known, hit)
            file_ranks.setdefault(_file(hit), len(file_ranks) + 1)
        for file, rank in file_ranks.items():
            file_totals[file] = file_totals.get(file, 0.0) + weight / (k + rank)
    if by_file:
        for key, hit in fused.items():
            totals[key] += file_totals[_file(hit)]
    order = sorted(totals, key=lambda key: (-totals[key], key))
    return [replace(fused[key], score=totals[key]) for key in order]


def _file(hit: SearchHit) -> tuple[str, str]:
    return hit.chunk.repository, hit.chunk.path


def _merge(first: SearchHit, second: SearchHit) -> SearchHit:
    return replace(
        first,
        similarity=first.similarity if first.similarity is not None else second.similarity,
        keyword_score=first.keyword_score if first.keyword_score is not None else second.keyword_score,
    )


def limit_per_file(hits: Sequence[SearchHit], per_file: int, k: int) -> list[SearchHit]:
    """The first k hits, taking at most `per_file` from any one file (0 = no limit).

    When the cap leaves fewer than k hits (a repository of few files), the best of the
    capped-out hits fill the rest, so a search never returns less than it found.
    """
    if per_file <= 0:
        return list(hits[:k])
    taken: list[SearchHit] = []
    held_back: list[SearchHit] = []
    per_path: dict[tuple[str, str], int] = {}
    for hit in hits:
        key = (hit.chunk.repository, hit.chunk.path)
        if per_path.get(key, 0) < per_file:
            per_path[key] = per_path.get(key, 0) + 1
            taken.append(hit)
            if len(taken) == k:
                return taken
        else:
            held_back.append(hit)
    chosen = {id(hit) for hit in taken + held_back[: k - len(taken)]}
    return [hit for hit in hits if id(hit) in chosen]
