from __future__ import annotations

import pytest

from domain.evaluation import first_gold_rank, score


def test_first_gold_rank_matches_whole_paths_and_suffixes() -> None:
    assert first_gold_rank(["a.md", "docs/tutorial/query-params.md"], ["tutorial/query-params.md"]) == 2
    assert first_gold_rank(["a.md"], ["b.md"]) is None


def test_hit_at_k_and_mrr() -> None:
    report = score([1, 2, None, 6], ["q1", "q2", "q3", "q4"], k=5)
    assert report.hit_at_k == pytest.approx(0.5)
    assert report.mrr == pytest.approx((1 + 0.5) / 4)
    assert report.misses == ("q3", "q4")
