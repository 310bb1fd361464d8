"""Retrieval quality, at the level of files: hit@n, reciprocal rank and nDCG against gold paths.

A question's gold is the set of files that answer it. Search returns passages, several of which
may come from one file, so a ranked list of hits is first turned into the ranked list of the
distinct files it names (each at the rank of its best passage), and every figure is taken on
that list: hit@n is "a gold file among the first n files", the reciprocal rank is 1 / the rank
of the first gold file, and nDCG@k (binary relevance) also rewards finding every gold file.

The abstain calibration is here too: given the best similarity of questions that have an answer
in the corpus and of questions that do not, the threshold that best tells them apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import pairwise


@dataclass(frozen=True)
class EvalCase:
    question: str
    gold: tuple[str, ...]
    """Paths of the files that answer the question, relative to the indexed folder; empty: none does."""


@dataclass(frozen=True)
class CaseScore:
    question: str
    gold_ranks: tuple[int, ...]
    """1-based ranks, among the distinct files retrieved within the cutoff, of the gold files found."""
    gold_count: int
    k: int

    @property
    def first_rank(self) -> int | None:
        return self.gold_ranks[0] if self.gold_ranks else None

    def hit(self, n: int) -> bool:
        """A gold file is among the first n files (n is at most the cutoff k)."""
        return self.first_rank is not None and self.first_rank <= n

    @property
    def reciprocal_rank(self) -> float:
        return 1.0 / self.first_rank if self.first_rank else 0.0

    @property
    def ndcg(self) -> float:
        """Normalised discounted cumulative gain at k, each gold file worth 1 wherever it is found."""
        ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(self.gold_count, self.k) + 1))
        if not ideal:
            return 0.0
        return sum(1.0 / math.log2(rank + 1) for rank in self.gold_ranks) / ideal


@dataclass(frozen=True)
class EvalReport:
    cases: int
    k: int
    hit_at_1: float
    hit_at_k: float
    mrr: float
    """Mean reciprocal rank of the first gold file within the first k files (0 when none is)."""
    ndcg: float
    """Mean nDCG@k."""
    misses: tuple[str, ...]
    """The questions with no gold file within the first k files."""

    def rounded(self, places: int) -> EvalReport:
        """The figures to `places` decimals, as reports print them."""
        figures = (self.hit_at_1, self.hit_at_k, self.mrr, self.ndcg)
        hit_at_1, hit_at_k, mrr, ndcg = (round(figure, places) for figure in figures)
        return replace(self, hit_at_1=hit_at_1, hit_at_k=hit_at_k, mrr=mrr, ndcg=ndcg)


def ranked_files(paths: Sequence[str]) -> list[str]:
    """The distinct paths of a ranked list of hits, each at the position of its first (best) hit."""
    return list(dict.fromkeys(paths))


def is_gold(path: str, gold: Sequence[str]) -> bool:
    """The path is one of the gold paths, or ends with one (gold written relative to a subfolder)."""
    return any(path == g or path.endswith("/" + g.lstrip("/")) for g in gold)


def score_case(case: EvalCase, ranked_paths: Sequence[str], k: int) -> CaseScore:
    """How well one ranked list of hit paths (best first) answers `case`, over its first k distinct files."""
    files = ranked_files(ranked_paths)[:k]
    found = tuple(rank for rank, path in enumerate(files, start=1) if is_gold(path, case.gold))
    return CaseScore(case.question, found, len(set(case.gold)), k)


def hit_rate(scores: Sequence[CaseScore], n: int) -> float:
    return sum(s.hit(n) for s in scores) / len(scores) if scores else 0.0


def mean_reciprocal_rank(scores: Sequence[CaseScore]) -> float:
    return sum(s.reciprocal_rank for s in scores) / len(scores) if scores else 0.0


def mean_ndcg(scores: Sequence[CaseScore]) -> float:
    return sum(s.ndcg for s in scores) / len(scores) if scores else 0.0


def summarize(scores: Sequence[CaseScore], k: int) -> EvalReport:
    return EvalReport(
        cases=len(scores),
        k=k,
        hit_at_1=hit_rate(scores, 1),
        hit_at_k=hit_rate(scores, k),
        mrr=mean_reciprocal_rank(scores),
        ndcg=mean_ndcg(scores),
        misses=tuple(s.question for s in scores if not s.hit(k)),
    )


@dataclass(frozen=True)
class Threshold:
    """Answer when the best similarity is at least `value`, abstain below it."""

    value: float
    balanced_accuracy: float
    answered: float
    """Share of the answerable questions at or above the threshold (true positive rate)."""
    abstained: float
    """Share of the unanswerable questions below the threshold (true negative rate)."""


def separating_threshold(answerable: Sequence[float], unanswerable: Sequence[float]) -> Threshold:
    """The threshold on a similarity that best separates answerable from unanswerable questions.

    It maximises balanced accuracy (the mean of the two rates, so the larger group does not
    dominate). The candidates lie midway between neighbouring observed values, so the threshold
    never sits on one question's score; of equally good ones the lowest wins (answer rather than abstain).
    """
    if not answerable or not unanswerable:
        raise ValueError("the threshold needs answerable and unanswerable questions")
    values = sorted(set(answerable) | set(unanswerable))
    candidates = [values[0], *((a + b) / 2 for a, b in pairwise(values)), values[-1] + 1e-9]
    return max((_rates(t, answerable, unanswerable) for t in candidates), key=lambda t: t.balanced_accuracy)


def _rates(value: float, answerable: Sequence[float], unanswerable: Sequence[float]) -> Threshold:
    answered = sum(s >= value for s in answerable) / len(answerable)
    abstained = sum(s < value for s in unanswerable) / len(unanswerable)
    return Threshold(value, (answered + abstained) / 2, answered, abstained)
