"""How search ranks passages: the retrieval modes and the policy that fuses and diversifies them."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from domain.passage_kinds import KindWeights


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
    """The mode of a search that names none."""
    rrf_k: int = 10
    """Reciprocal rank fusion's constant: a hit at rank r adds weight / (rrf_k + r). Smaller than
    the customary 60, so a leg's first hits count clearly more than its tenth (measured with
    benchmarks/retrieval.py: 10 beat 60 on every corpus of the question set)."""
    dense_weight: float = 1.0
    keyword_weight: float = 1.0
    max_hits_per_file: int = 2
    """At most this many of the top hits come from one file (0 = no limit), so one page cannot fill them."""
    fuse_files: bool = True
    """Also fuse the legs' rankings of files (a file ranks where its best chunk does) and add a file's
    fused score to each of its chunks, so a page both legs find is not lost when they find it by
    different passages."""
    kind_weights: KindWeights = field(default_factory=KindWeights)
    """Hybrid scores of tests, templates, data files, changelogs, announcements and migration guides are
    multiplied by these unless the question asks for that kind (`domain.passage_kinds`). They share the
    question's words without being what it is about: the code that does a thing and the page that
    documents it should outrank the test that calls it and the entry that announced it, which still rank
    when they alone match."""

    def mode_for(self, requested: RetrievalMode | None) -> RetrievalMode:
        """The mode a search ranks by: the one it asked for, else the policy's default."""
        return requested or self.mode
