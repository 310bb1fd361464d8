from __future__ import annotations

import math

import pytest

from application.evaluation import EvaluateRetrieval
from application.search import SearchRequest
from domain.answers import SearchHit
from domain.documents import Chunk
from domain.errors import InvalidInput
from domain.evaluation import (
    EvalCase,
    hit_rate,
    is_gold,
    mean_ndcg,
    mean_reciprocal_rank,
    ranked_files,
    score_case,
    separating_threshold,
    summarize,
)
from tests.unit.fakes import ScriptedSearch


def case(*gold: str) -> EvalCase:
    return EvalCase("q", gold)


def test_gold_matches_whole_paths_and_suffixes_of_whole_names() -> None:
    assert is_gold("docs/tutorial/query-params.md", ["tutorial/query-params.md"])
    assert is_gold("a.md", ["a.md"])
    assert not is_gold("docs/tutorial/query-params.md", ["query-params.md/x"])
    assert not is_gold("big-tutorial/a.md", ["tutorial/a.md"])


def test_hits_become_distinct_files_at_the_rank_of_their_best_passage() -> None:
    assert ranked_files(["a.md", "a.md", "b.md", "a.md", "c.md"]) == ["a.md", "b.md", "c.md"]
    score = score_case(case("b.md"), ["a.md", "a.md", "b.md"], k=10)
    assert score.first_rank == 2
    assert score.reciprocal_rank == pytest.approx(0.5)
    assert not score.hit(1) and score.hit(2)


def test_the_cutoff_counts_files_not_passages() -> None:
    paths = ["a.md", "a.md", "b.md", "b.md", "c.md"]
    assert score_case(case("c.md"), paths, k=3).first_rank == 3
    assert score_case(case("c.md"), paths, k=2).first_rank is None


def test_ndcg_rewards_finding_every_gold_file_high() -> None:
    assert score_case(case("a.md"), ["a.md", "b.md"], k=10).ndcg == pytest.approx(1.0)
    assert score_case(case("b.md"), ["a.md", "b.md"], k=10).ndcg == pytest.approx(1 / math.log2(3))
    both = score_case(case("a.md", "c.md"), ["a.md", "b.md", "c.md"], k=10)
    assert both.gold_ranks == (1, 3)
    assert both.ndcg == pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)))
    assert score_case(case("a.md", "c.md"), ["a.md", "c.md"], k=10).ndcg == pytest.approx(1.0)
    assert score_case(case("z.md"), ["a.md"], k=10).ndcg == 0.0


def test_summary_of_hit_rates_mrr_and_ndcg() -> None:
    scores = [
        score_case(EvalCase("first", ("a.md",)), ["a.md"], k=5),
        score_case(EvalCase("second", ("b.md",)), ["a.md", "b.md"], k=5),
        score_case(EvalCase("missed", ("z.md",)), ["a.md", "b.md"], k=5),
        score_case(EvalCase("sixth", ("f.md",)), ["a.md", "b.md", "c.md", "d.md", "e.md", "f.md"], k=5),
    ]
    report = summarize(scores, k=5)
    assert (report.cases, report.k) == (4, 5)
    assert report.hit_at_1 == pytest.approx(0.25)
    assert report.hit_at_k == pytest.approx(0.5)
    assert report.mrr == pytest.approx((1 + 0.5) / 4)
    assert report.ndcg == pytest.approx((1 + 1 / math.log2(3)) / 4)
    assert report.misses == ("missed", "sixth")
    assert hit_rate(scores, 2) == report.hit_at_k
    assert mean_reciprocal_rank(scores) == report.mrr
    assert mean_ndcg(scores) == report.ndcg


def test_no_scores_summarise_to_zeros() -> None:
    report = summarize([], k=5)
    assert (report.cases, report.hit_at_1, report.hit_at_k, report.mrr, report.ndcg) == (0, 0.0, 0.0, 0.0, 0.0)


def test_threshold_separating_answerable_from_unanswerable_questions() -> None:
    threshold = separating_threshold([0.7, 0.8, 0.9], [0.3, 0.4, 0.5])
    assert 0.5 < threshold.value < 0.7
    assert (threshold.answered, threshold.abstained, threshold.balanced_accuracy) == (1.0, 1.0, 1.0)


def test_threshold_balances_both_groups_when_they_overlap() -> None:
    """One unanswerable question scores above most answerable ones: abstaining on it would
    refuse two answerable questions out of four, so the threshold lets it through."""
    threshold = separating_threshold([0.5, 0.6, 0.8, 0.9], [0.2, 0.3, 0.7])
    assert threshold.value == pytest.approx(0.4)
    assert threshold.answered == 1.0
    assert threshold.abstained == pytest.approx(2 / 3)
    assert threshold.balanced_accuracy == pytest.approx((1 + 2 / 3) / 2)


def test_threshold_needs_both_groups() -> None:
    with pytest.raises(ValueError):
        separating_threshold([0.5], [])


def hit(path: str) -> SearchHit:
    return SearchHit(Chunk(f"{path}#0", "repo", path, "sha", "commit", 0, "text", 1, 2), 0.5)


async def test_evaluation_searches_each_question_and_scores_files() -> None:
    search = ScriptedSearch([hit("a.md"), hit("a.md"), hit("b.md")])
    evaluate = EvaluateRetrieval(search)
    report = await evaluate.execute([EvalCase("one", ("b.md",)), EvalCase("two", ("z.md",))], "docs", k=3)
    assert search.requests == [SearchRequest("one", 3, "docs"), SearchRequest("two", 3, "docs")]
    assert report.mrr == pytest.approx(0.5 / 2)
    assert report.misses == ("two",)


async def test_evaluation_refuses_an_empty_question_set() -> None:
    with pytest.raises(InvalidInput):
        await EvaluateRetrieval(ScriptedSearch()).execute([], "docs", k=3)
