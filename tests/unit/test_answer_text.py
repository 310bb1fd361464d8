"""How answers read as text: the MCP `ask` tool's Markdown and the CLI's source list."""

from __future__ import annotations

from dataclasses import replace

import pytest

from application.answering import CitationsEvent, GeneratedAnswer
from domain.answers import Citation
from domain.citation_check import CheckSummary
from entrypoints import mcp_markdown as md
from entrypoints.cli_commands import _print_sources

A = Citation("docs/a.md", "owner/repo", "c0ffee", 1, 4, "file:///repo/docs/a.md#L1-L4", "Alpha.", 0.03, 0.61, used=True)
B = replace(A, path="docs/b.md", url="file:///repo/docs/b.md#L1-L4", used=False)
C = replace(A, path="docs/c.md", url="file:///repo/docs/c.md#L1-L4", used=True)


def test_the_mcp_answer_lists_the_sources_it_cites_under_their_numbers() -> None:
    text = md.answer(GeneratedAnswer("Alpha [1], gamma [3].", (A, B, C), True), md.DEFAULT_TOKEN_BUDGET)

    sources = text.split("**Sources**\n", 1)[1].splitlines()
    assert [line.split(" ", 1)[0] for line in sources] == ["[1]", "[3]"]


def test_the_mcp_answer_that_abstains_lists_its_weak_passages_apart_and_no_source() -> None:
    weak = (replace(A, used=False), B)
    abstained = GeneratedAnswer("Nothing relevant.", weak, False, search_query="Bread?", abstained=True)

    text = md.answer(abstained, md.DEFAULT_TOKEN_BUDGET)

    assert text.startswith("Nothing relevant.") and "Extractive answer" not in text
    assert "**Sources**" not in text and "**Closest passages, too weak to answer from**\n[1] " in text


def test_the_mcp_answer_marks_each_unsupported_citation_with_its_reason_and_the_invented_markers() -> None:
    unsupported = replace(C, supported=False, reason="`gamma_ray` is not in [3]")
    checked = CheckSummary(cited=3, supported=1, unsupported=2, invented=(7,))
    answer = GeneratedAnswer("Alpha [1], `gamma_ray` [3] [7].", (replace(A, supported=True), B, unsupported), True)

    text = md.answer(replace(answer, citation_check=checked), md.DEFAULT_TOKEN_BUDGET)

    sources = text.split("**Sources**\n", 1)[1].splitlines()
    assert sources[0].endswith("docs/a.md#L1-L4")
    assert sources[1].endswith("docs/c.md#L1-L4 (unsupported: `gamma_ray` is not in [3])")
    assert sources[2] == "[7] (unsupported: [7] is not a passage of this answer)"


def test_the_cli_marks_an_unsupported_source_with_its_reason(capsys: pytest.CaptureFixture[str]) -> None:
    _print_sources(CitationsEvent((replace(C, supported=False, reason="`x_y` is not in [1]"),), True))

    assert capsys.readouterr().out.splitlines()[-1].endswith("(unsupported: `x_y` is not in [1])")


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (CitationsEvent((A, B, C), True),
         ["", "Sources:", "[1] docs/a.md", "[3] docs/c.md", "", "Also found, not cited:", "[2] docs/b.md"]),
        (CitationsEvent((B,), False, abstained=True),
         ["", "Closest passages, too weak to answer from:", "[1] docs/b.md"]),
    ],
    ids=["answered", "abstained"],
)  # fmt: skip
def test_the_cli_prints_the_cited_sources_first_then_the_others(
    event: CitationsEvent, expected: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    _print_sources(event)

    lines = capsys.readouterr().out.splitlines()
    assert [" ".join(line.split()[:2]) if line.startswith("[") else line for line in lines] == expected
