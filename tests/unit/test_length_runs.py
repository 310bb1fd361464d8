"""length_runs: how the offline embedder cuts one call's texts into model runs."""

from __future__ import annotations

from adapters.embeddings.local import length_runs


def test_runs_go_shortest_first_and_hold_each_text_once() -> None:
    lengths = [200, 10, 60, 12, 256, 11, 58]

    runs = length_runs(lengths, 256)

    flat = [index for run in runs for index in run]
    assert sorted(flat) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths)


def test_a_run_pads_to_at_most_the_budget() -> None:
    lengths = [10, 11, 12, 58, 60, 200, 256]

    runs = length_runs(lengths, 256)

    assert runs == [[0, 1, 2, 3], [4], [5], [6]]  # 4 x 58 fits in 256 tokens, 5 x 60 would not
    assert all(len(run) * max(lengths[i] for i in run) <= 256 for run in runs)


def test_a_text_longer_than_the_budget_runs_alone() -> None:
    assert length_runs([300, 5, 5], 256) == [[1, 2], [0]]


def test_no_texts_make_no_runs() -> None:
    assert length_runs([], 256) == []
