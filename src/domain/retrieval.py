"""How search ranks passages: the retrieval modes and the policy that fuses and diversifies them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RetrievalMode(StrEnum):
    HYBRID = "hybrid"
    """Dense and keyword rankings fused by reciprocal rank fusion."""
    DENSE = "dense"
    """Nearest neighbours of the query's embedding only."""
    KEYWORD = "keyword"
    """BM25 over identifier-aware terms only."""


@dataclass(frozen=True)
class RetrievalPolicy:
    mode: RetrievalMode = RetrievalMode.HYBRID
    rrf_k: int = 60
    """Reciprocal rank fusion's constant: a hit at rank r adds weight / (rrf_k + r)."""
    dense_weight: float = 1.0
    keyword_weight: float = 1.0
    max_hits_per_file: int = 2
    """At most this many of the top hits come from one file (0 = no limit), so one page cannot fill them."""
    fuse_files: bool = True
    """Also fuse the legs' rankings of files (a file ranks where its best chunk does) and add a file's
    fused score to each of its chunks, so a page both legs find is not lost when they find it by
    different passages."""
