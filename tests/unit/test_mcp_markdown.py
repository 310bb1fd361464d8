"""The Markdown the MCP tools answer: token budgets, fences that indexed content cannot close."""

from __future__ import annotations

import re
from dataclasses import replace

from application.reading import FileExcerpt
from application.repositories import IndexedRepository, RepositoryMatch
from domain.answers import Citation
from domain.documents import Manifest
from domain.sync import SyncResult, SyncStatus
from entrypoints import mcp_markdown as md


def citation(n: int, text: str) -> Citation:
    return Citation(f"docs/{n}.md", "owner/repo", "c0ffee" * 6, 1, 3, f"https://x/blob/c/docs/{n}.md#L1-L3", text, 0.5)


def test_passages_stay_within_the_budget_and_say_how_many_were_left_out() -> None:
    found = [citation(n, "word " * 100) for n in range(10)]
    text = md.passages(found, 300)
    assert len(text) <= 300 * md.CHARS_PER_TOKEN
    shown = re.findall(r"^### \[(\d+)\]", text, re.MULTILINE)
    assert shown and f"({10 - len(shown)} more passages left out" in text


def test_one_passage_larger_than_the_budget_is_cut_not_dropped() -> None:
    text = md.passages([citation(1, "x" * 10_000), citation(2, "y")], 200)
    assert text.startswith("### [1]") and len(text) <= 200 * md.CHARS_PER_TOKEN and "1 more passages" in text


def test_everything_fits_in_a_generous_budget() -> None:
    text = md.passages([citation(1, "alpha"), citation(2, "beta")], md.DEFAULT_TOKEN_BUDGET)
    assert "left out" not in text and "https://x/blob/c/docs/2.md#L1-L3" in text


def test_a_fence_is_longer_than_any_backtick_run_in_the_content() -> None:
    content = "```python\nprint('hi')\n```\nand ````four````"
    fence = md.fenced(content)
    assert fence.startswith("`````\n") and fence.endswith("\n`````") and content in fence


def test_an_excerpt_cut_by_the_budget_says_where_to_go_on() -> None:
    lines = [f"line {n} " + "z" * 60 for n in range(1, 201)]
    found = FileExcerpt("owner/repo", "a.md", "c0ffee" * 6, 1, 200, 200, "\n".join(lines), "https://x#L1-L200")
    text = md.excerpt(found, 500)
    cut = re.search(r"Cut at line (\d+) .* start_line=(\d+)", text)
    assert cut and int(cut.group(2)) == int(cut.group(1)) + 1
    assert f"line {cut.group(1)} " in text and f"line {int(cut.group(1)) + 1} " not in text
    assert len(text) <= 500 * md.CHARS_PER_TOKEN


def test_the_repository_listing_shows_each_refs_last_sync_its_error_and_the_next_one() -> None:
    manifest = Manifest(
        "owner/repo", "github:owner/repo", "c0ffee" * 6, {"a.md": "1"}, indexed_at="2025-03-01T12:00:00"
    )
    failing = SyncStatus(
        "default",
        "owner/repo",
        last_sync_at="2025-03-01T13:00:02+00:00",
        last_result=SyncResult.FAILED,
        last_error="GitHub answered 502 | retry",
        consecutive_failures=2,
    )
    table = md.repositories(
        [
            IndexedRepository("default", manifest, failing, "2025-03-01T17:00:00+00:00"),
            IndexedRepository("other", manifest),
        ]
    )
    header, _, listed, never, *_ = table.splitlines()
    assert "| last sync | next sync |" in header
    assert "| failed at 2025-03-01T13:00:02+00:00 (2 failed in a row: GitHub answered 502 \\| retry) |" in listed
    assert "| 2025-03-01T17:00:00+00:00 |" in listed
    assert "| - | - |" in never


MAIN = Manifest("owner/repo", "github:owner/repo", "c0ffee" * 6, {"a.md": "1"}, indexed_at="2025-03-01T12:00:00")
V1 = replace(MAIN, commit="0ff1ce" * 6, ref="v1", indexed_at="2025-03-02T12:00:00")


def test_the_repository_listing_has_a_row_per_ref_with_its_commit_and_the_one_searched_by_default() -> None:
    table = md.repositories(
        [IndexedRepository("default", MAIN), IndexedRepository("default", V1, searched_by_default=False)]
    )

    header, _, main, v1, *notes = table.splitlines()
    assert "| ref | commit | searched by default |" in header
    assert "| default branch | c0ffeec0ffee | yes |" in main
    assert "| v1 | 0ff1ce0ff1ce | no |" in v1
    assert "`ref`" in "\n".join(notes)


def test_a_ref_with_a_pipe_stays_in_its_table_cell() -> None:
    odd = Manifest("owner/repo", "github:owner/repo", "c0ffee" * 6, ref="a|b")

    row = md.repositories([IndexedRepository("default", odd)]).splitlines()[2]

    assert "| a\\|b |" in row and row.count(" | ") == 9


def test_a_resolved_repository_shows_every_ref_it_has_and_the_one_searched_by_default() -> None:
    found = md.matches([RepositoryMatch(IndexedRepository("default", MAIN), 0.9, (None, "v1"))], "repo")

    assert "`owner/repo` (collection default, refs default branch, v1; searched by default: default branch" in found
    assert "commit c0ffeec0ffee" in found and "`ref`" in found
