"""domain.citation_check: what a cited sentence states, looked up in the passages it cites."""

from __future__ import annotations

import pytest

from domain.answers import Citation
from domain.citation_check import (
    CheckSummary,
    UnsupportedCitations,
    check_citations,
    cited_sentences,
    drop_unsupported,
    judged,
)
from domain.claims import Passage, claims

CONFIG = Passage(
    "docs/config.md",
    "Set `max_connections` in settings.toml; the default is 8000.\n"
    'Run `uvicorn main:app --reload` while developing. The log says "Application startup complete".\n'
    "See docs/deploy/nginx.conf for a proxy. The dependency is declared with Depends().",
)
ROUTER = Passage(
    "src/router.py",
    "class APIRouter:\n    def include_router(self, router, prefix=''):\n        self.routes.extend(router.routes)",
)
PASSAGES = [CONFIG, ROUTER]


def verdicts(text: str, closeness: list[dict[int, float]] | None = None, threshold: float | None = None) -> list:
    """(number, supported) of each marker, sentence by sentence."""
    check = check_citations(text, PASSAGES, closeness, threshold)
    return [(v.number, v.supported) for s in check.sentences for v in s.verdicts]


def reasons(text: str) -> list[str]:
    return [v.reason for s in check_citations(text, PASSAGES).sentences for v in s.verdicts]


@pytest.mark.parametrize(
    ("sentence", "stated"),
    [
        ("Set `max_connections` to 8000.", ["`max_connections`", "8000"]),
        ("APIRouter calls include_router, self.routes.x.", ["`APIRouter`", "`include_router`", "`self.routes.x`"]),
        ("Start it with --reload or set MAX_SIZE and sha256.", ["`--reload`", "`MAX_SIZE`", "`sha256`"]),
        ("Edit docs/deploy/nginx.conf or https://x.io/a?b=1.", ["`https://x.io/a?b=1`", "`docs/deploy/nginx.conf`"]),
        ('It logs "Application startup complete".', ['"Application startup complete"']),
        ("The API returns JSON for requests and dependencies, in 2 ways.", []),
        ("Python 3.11 works, e.g. with and/or without client/server setups.", ["3.11"]),
        ("Call `Depends()` with `get_db`.", ["`Depends`", "`get_db`"]),
        ("Import `?no-inline` or pass `--log-level debug`.", ["`no-inline`", "`--log-level`", "`debug`"]),
    ],
    ids=["snake and number", "camel and dotted", "flag, constant, digits", "path and url", "quote",
         "acronyms, plurals and single digits are words", "no path in and/or", "backticked code",
         "hyphenated code"],
)  # fmt: skip
def test_what_a_sentence_states_is_its_identifiers_numbers_paths_and_quotes(sentence: str, stated: list[str]) -> None:
    assert [c.shown for c in claims(sentence)] == stated


def test_a_sentence_whose_passage_holds_what_it_states_is_supported() -> None:
    text = "The default of `max_connections` is 8000 [1]. Use `--reload` while developing [1]."

    assert verdicts(text) == [(1, True), (1, True)]
    assert reasons(text)[0] == "[1] holds `max_connections`, 8000"


def test_identifiers_numbers_paths_and_quotes_missing_from_the_passage_are_unsupported_with_the_reason() -> None:
    text = (
        "Set `pool_size` there [1]. The default is 9000 [1]. Edit docs/deploy/caddy.conf [1]. "
        'It logs "Server ready" [1].'
    )

    assert reasons(text) == [
        "`pool_size` is not in [1]",
        "9000 is not in [1]",
        "`docs/deploy/caddy.conf` is not in [1]",
        '"Server ready" is not in [1]',
    ]


def test_lookups_ignore_case_but_keep_word_boundaries() -> None:
    assert verdicts("`MAX_CONNECTIONS` is read [1].") == [(1, True)]
    assert verdicts("`include` merges routers [2].") == [(2, False)]  # only in include_router


def test_a_path_naming_the_cited_file_is_supported_though_its_text_does_not_say_it() -> None:
    assert verdicts("`include_router` lives in src/router.py [2].") == [(2, True)]
    assert verdicts("`include_router` lives in src/app.py [2].") == [(2, False)]


def test_a_plural_of_an_identifier_is_found_as_the_identifier() -> None:
    assert verdicts("Mount several APIRouters [2].") == [(2, True)]


def test_a_misplaced_citation_is_unsupported_and_the_right_one_is_not() -> None:
    assert verdicts("`include_router` extends the routes [1].") == [(1, False)]
    assert verdicts("`include_router` extends the routes [2].") == [(2, True)]


def test_an_invented_marker_is_no_passage_of_the_answer() -> None:
    check = check_citations("The default is 8000 [1][9].", PASSAGES)

    assert [(v.number, v.supported, v.reason) for v in check.sentences[0].verdicts] == [
        (1, True, "[1] holds 8000"),
        (9, False, "[9] is not a passage of this answer"),
    ]
    assert check.summary == CheckSummary(cited=2, supported=1, unsupported=1, invented=(9,))


def test_a_sentence_citing_two_passages_may_spread_its_facts_over_them() -> None:
    text = "Declare `max_connections` and call `include_router` [1][2]."

    assert verdicts(text) == [(1, True), (2, True)]


def test_a_sentence_citing_two_passages_is_unsupported_by_one_that_holds_none_of_it() -> None:
    check = check_citations("The default is 8000 [1][2].", PASSAGES)

    assert [(v.number, v.supported, v.reason) for v in check.sentences[0].verdicts] == [
        (1, True, "[1] holds 8000"),
        (2, False, "[2] holds none of 8000"),
    ]


def test_what_none_of_the_cited_passages_holds_makes_every_marker_of_the_sentence_unsupported() -> None:
    assert reasons("`pool_size` and `include_router` [1][2].") == ["`pool_size` is not in [1] or [2]"] * 2


def test_code_blocks_are_not_sentences_and_brackets_in_code_are_no_markers() -> None:
    text = "Use it like this [2]:\n\n```python\nrouter.include_router(other)  # [1]\nitems[1]\n```\n\nDone `x[1]`."

    [sentence] = cited_sentences(text)
    assert sentence.numbers == (2,)
    assert verdicts(text) == [(2, True)]


def test_each_list_item_is_a_sentence_of_its_own() -> None:
    text = "Two settings:\n- `max_connections` [1]\n- `include_router` [1]\n1. 8000 [1]"

    assert [s.numbers for s in cited_sentences(text)] == [(1,), (1,), (1,)]
    assert verdicts(text) == [(1, True), (1, False), (1, True)]


def test_markers_after_the_full_stop_belong_to_the_sentence_before_them() -> None:
    sentences = cited_sentences("The default is 8000. [1] Use `include_router`.[2] E.g. this [1].")

    assert [(s.text, s.numbers) for s in sentences] == [
        ("The default is 8000.", (1,)),
        ("Use `include_router`.", (2,)),
        ("E.g. this .", (1,)),
    ]


def test_with_the_dense_model_a_sentence_far_from_its_passage_is_unsupported() -> None:
    text = "It is fast [1]. It is configurable [2]."
    closeness = [{1: 0.12}, {2: 0.55}]

    check = check_citations(text, PASSAGES, closeness, close_enough=0.3)

    assert [(v.number, v.supported, v.reason) for s in check.sentences for v in s.verdicts] == [
        (1, False, "the sentence is far from [1] (0.12)"),
        (2, True, "nothing to look up in the sentence; close to [2] (similarity 0.55)"),
    ]


def test_a_passage_cited_by_several_sentences_is_supported_only_if_each_is() -> None:
    check = check_citations("The default is 8000 [1]. Call `include_router` [1].", PASSAGES)

    verdict = check.verdict(1)
    assert verdict is not None and not verdict.supported and verdict.reason == "`include_router` is not in [1]"
    assert check.summary == CheckSummary(cited=1, supported=0, unsupported=1, invented=())


def test_drop_takes_out_only_the_unsupported_markers_where_they_stand() -> None:
    text = "The default is 8000 [1][2]. Call `include_router` [1]. Routers nest [2, 9].\n\n```\ncode [1]\n```\nEnd [2]."

    dropped = drop_unsupported(text, check_citations(text, PASSAGES))

    assert (
        dropped == "The default is 8000 [1]. Call `include_router`. Routers nest [2].\n\n```\ncode [1]\n```\nEnd [2]."
    )


def citation(path: str, used: bool = True) -> Citation:
    return Citation(path, "owner/repo", "c0ffee", 1, 9, f"https://example.com/{path}", "text", 0.5, used=used)


def test_judged_citations_carry_their_verdict_and_drop_leaves_the_unsupported_ones_unused() -> None:
    text = "The default is 8000 [1]. The default is 8000 [2]."
    check = check_citations(text, PASSAGES)
    citations = [citation("docs/config.md"), citation("src/router.py"), citation("docs/other.md", used=False)]

    flagged = judged(citations, check, UnsupportedCitations.FLAG)
    dropped = judged(citations, check, UnsupportedCitations.DROP)

    assert [(c.used, c.supported, c.reason) for c in flagged] == [
        (True, True, "[1] holds 8000"),
        (True, False, "8000 is not in [2]"),
        (False, None, ""),
    ]
    assert [(c.used, c.supported) for c in dropped] == [(True, True), (False, False), (False, None)]


def test_drop_keeps_a_passage_used_where_another_sentence_still_cites_it_with_support() -> None:
    text = "The default is 8000 [1]. Call `include_router` [1]."
    check = check_citations(text, PASSAGES)

    [kept] = judged([citation("docs/config.md")], check, UnsupportedCitations.DROP)

    assert (kept.used, kept.supported, kept.reason) == (True, True, "[1] holds 8000")
    assert drop_unsupported(text, check) == "The default is 8000 [1]. Call `include_router`."
