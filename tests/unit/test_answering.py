"""AnswerQuestion, whole and streamed: follow-up questions, abstaining, and the citations an answer used.

The search is a ScriptedSearch, so each test sets the similarities the evidence has.
"""

from __future__ import annotations

import logging

import pytest

from adapters.llm.extractive import ExtractiveAnswerGenerator, LiteralQueryRewriter
from application.answering import (
    AnswerEvent,
    AnswerQuestion,
    AskRequest,
    CheckCitations,
    CitationsEvent,
    GeneratedAnswer,
    TokenEvent,
)
from application.ports.generation import AnswerGenerator, QueryRewriter
from application.search import SearchRequest
from domain.answers import ChatTurn, SearchHit, cited_numbers, nothing_relevant
from domain.citation_check import NOT_CHECKED, QUOTED, CheckSummary, UnsupportedCitations
from domain.documents import Chunk
from domain.errors import UpstreamUnavailable
from domain.follow_ups import MAX_QUERY_CHARS, MAX_TURN_CHARS, literal_query, rewrite_request, standalone_query
from domain.retrieval import RetrievalMode
from tests.unit.fakes import FailingEmbedder, RecordingEmbedder, ScriptedGenerator, ScriptedRewriter, ScriptedSearch

HISTORY = (
    ChatTurn("user", "What is Widgets?"),
    ChatTurn("assistant", "A library for widgets [1]."),
    ChatTurn("user", "How do I configure it?"),
    ChatTurn("assistant", "With widgets.toml [2]."),
    ChatTurn("user", "Where does that file go?"),
    ChatTurn("assistant", "Beside your project [1]."),
)
FOLLOW_UP = "And its timeout?"


def hit(path: str, similarity: float | None, score: float = 0.5) -> SearchHit:
    chunk = Chunk(f"id-{path}", "owner/widgets", path, "blob", "c0ffee", 0, f"text of {path}", 1, 4)
    return SearchHit(chunk, score, similarity, None if similarity is not None else 3.0)


HITS = [hit("docs/a.md", 0.62), hit("docs/b.md", 0.55), hit("docs/c.md", 0.41)]


async def ask(
    hits: list[SearchHit],
    request: AskRequest,
    generator: AnswerGenerator | None = None,
    rewriter: QueryRewriter | None = None,
    abstain_below: float | None = 0.4,
    stream: bool = False,
) -> tuple[GeneratedAnswer, ScriptedSearch]:
    """The whole answer of AnswerQuestion, or its streamed events gathered into the same shape."""
    search = ScriptedSearch(hits)
    answer_question = AnswerQuestion(
        search, generator or ScriptedGenerator(), rewriter or ScriptedRewriter(), abstain_below
    )
    if not stream:
        return await answer_question.execute(request), search
    events = [event async for event in answer_question.stream(request)]
    *tokens, last = events
    assert isinstance(last, CitationsEvent) and all(isinstance(t, TokenEvent) for t in tokens)
    text = "".join(t.text for t in tokens if isinstance(t, TokenEvent)).strip()  # ScriptedGenerator streams words
    answer = GeneratedAnswer(
        text, last.citations, last.generated, last.end, last.search_query, last.abstained, last.citation_check
    )
    return answer, search


both = pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])


# -- follow-up questions


@both
async def test_with_a_chat_model_a_follow_up_is_searched_as_its_standalone_rewrite(stream: bool) -> None:
    rewritten = "How do I set the timeout in widgets.toml?"
    rewriter, generator = ScriptedRewriter(rewritten), ScriptedGenerator()
    request = AskRequest(FOLLOW_UP, HISTORY, "docs", 3, "owner/widgets", mode=RetrievalMode.DENSE)

    answer, search = await ask(HITS, request, generator, rewriter, stream=stream)

    assert rewriter.calls == [(FOLLOW_UP, list(HISTORY))]
    assert search.requests == [SearchRequest(rewritten, 3, "docs", "owner/widgets", RetrievalMode.DENSE)]
    assert answer.search_query == rewritten
    generated = generator.requests[0]
    assert (generated.question, generated.history) == (FOLLOW_UP, HISTORY)  # the model still answers what was asked


@both
async def test_without_a_chat_model_the_question_is_searched_with_the_last_two_user_turns_as_keywords(
    stream: bool,
) -> None:
    answer, search = await ask(HITS, AskRequest(FOLLOW_UP, HISTORY), rewriter=LiteralQueryRewriter(), stream=stream)

    [sent] = search.requests
    assert sent.query == FOLLOW_UP
    assert sent.keyword_context == "How do I configure it?\nWhere does that file go?"
    assert answer.search_query == FOLLOW_UP


async def test_a_question_without_history_is_searched_as_asked_with_no_rewrite() -> None:
    rewriter = ScriptedRewriter()

    answer, search = await ask(HITS, AskRequest("How do I set the timeout?"), rewriter=rewriter)

    assert rewriter.calls == []
    assert search.requests == [SearchRequest("How do I set the timeout?")]
    assert answer.search_query == "How do I set the timeout?"


@both
async def test_a_failed_rewrite_falls_back_to_the_literal_rule_says_so_in_the_log_and_still_answers(
    stream: bool, caplog: pytest.LogCaptureFixture
) -> None:
    rewriter = ScriptedRewriter(error=UpstreamUnavailable("cannot reach the OpenAI-compatible API"))

    with caplog.at_level(logging.WARNING, logger="application.answering"):
        answer, search = await ask(HITS, AskRequest(FOLLOW_UP, HISTORY), rewriter=rewriter, stream=stream)

    [sent] = search.requests
    assert (sent.query, sent.keyword_context) == (FOLLOW_UP, literal_query(FOLLOW_UP, HISTORY).keyword_context)
    assert answer.text == ScriptedGenerator().text and not answer.abstained
    assert "cannot reach the OpenAI-compatible API" in caplog.text and "searching it as asked" in caplog.text


def test_without_a_model_each_earlier_user_turn_joins_the_keyword_leg_cut_short() -> None:
    huge = ChatTurn("user", "widgets " * 100_000)  # 800 KB: thousands of terms, cut on the event loop

    query = literal_query(FOLLOW_UP, (*HISTORY, huge, huge))

    assert query.text == FOLLOW_UP
    assert query.keyword_context.startswith("widgets widgets")
    assert len(query.keyword_context) <= 2 * (MAX_TURN_CHARS + 3)


def test_the_rewrite_request_shows_the_latest_turns_cut_short_then_the_question() -> None:
    long = ChatTurn("assistant", "x" * (MAX_TURN_CHARS + 50))
    text = rewrite_request(FOLLOW_UP, (*HISTORY, long))

    assert "user: What is Widgets?" not in text  # the seventh turn from the end is left out
    assert "assistant: A library for widgets [1]." in text
    assert f"assistant: {'x' * MAX_TURN_CHARS} …" in text
    assert text.endswith(f"Last question: {FOLLOW_UP}")


@pytest.mark.parametrize(
    ("reply", "query"),
    [
        ("How do I set the Widgets timeout?", "How do I set the Widgets timeout?"),
        ('"How do I set the Widgets timeout?"\n', "How do I set the Widgets timeout?"),
        ("\nQuery: widgets.toml timeout\nBecause the user asked...", "widgets.toml timeout"),
        ("   \n", None),
        ("x" * (MAX_QUERY_CHARS + 1), None),
    ],
    ids=["plain", "quoted", "labelled with more lines", "empty", "too long"],
)
def test_the_standalone_query_is_the_first_line_of_the_reply(reply: str, query: str | None) -> None:
    assert standalone_query(reply) == query


# -- abstaining


@both
async def test_weak_evidence_abstains_naming_what_was_searched_and_keeps_the_candidates_unused(stream: bool) -> None:
    generator = ScriptedGenerator()
    weak = [hit("docs/a.md", 0.31), hit("docs/b.md", 0.38)]
    request = AskRequest("How do I proof sourdough?", collection="docs", repository="owner/widgets")

    answer, _ = await ask(weak, request, generator, abstain_below=0.4, stream=stream)

    assert answer.abstained and not answer.generated
    assert answer.text == nothing_relevant("docs", "owner/widgets")
    assert "owner/widgets" in answer.text and "docs" in answer.text
    assert [(c.path, c.used) for c in answer.citations] == [("docs/a.md", False), ("docs/b.md", False)]
    assert generator.requests == []  # no model is asked to answer from unrelated passages


@both
async def test_evidence_at_or_over_the_threshold_is_answered(stream: bool) -> None:
    mixed = [hit("docs/a.md", 0.2), hit("docs/b.md", 0.4)]

    answer, _ = await ask(mixed, AskRequest("How do I set the timeout?"), abstain_below=0.4, stream=stream)

    assert not answer.abstained and answer.generated and answer.text == ScriptedGenerator().text


@both
async def test_no_hit_at_all_abstains_whatever_the_threshold(stream: bool) -> None:
    answer, _ = await ask([], AskRequest("Anything?"), abstain_below=None, stream=stream)

    assert answer.abstained and answer.citations == ()
    assert answer.text == nothing_relevant("default", None)
    assert "the repositories indexed in collection default" in answer.text


@both
async def test_in_keyword_mode_with_no_similarity_known_only_no_hit_abstains(stream: bool) -> None:
    keyword_hits = [hit("docs/a.md", None), hit("docs/b.md", None)]
    request = AskRequest("timeout", mode=RetrievalMode.KEYWORD)

    answer, _ = await ask(keyword_hits, request, abstain_below=0.99, stream=stream)

    assert not answer.abstained and answer.text == ScriptedGenerator().text


# -- the citations an answer used


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("Set it in widgets.toml [1].", {1}),
        ("Both work [1][3].", {1, 3}),
        ("Both work [2, 3] and [1,2].", {1, 2, 3}),
        ("See [1](https://example.com).", {1}),
        ("Out of range [4] and [0] are not sources.", set()),
        ("Code is not a citation: `items[1]` or items[2] or\n```\nrow[3]\n```", set()),
        ("A Markdown reference link [text][2] is not one either.", set()),
        ("Ranges are not read [1-3].", set()),
    ],
)
def test_cited_numbers_reads_the_markers_of_prose(text: str, numbers: set[int]) -> None:
    assert cited_numbers(text, sources=3) == numbers


@both
async def test_a_generated_answer_marks_the_citations_its_markers_name(stream: bool) -> None:
    generator = ScriptedGenerator("Set timeout in widgets.toml [3], in seconds [1][9].")

    answer, _ = await ask(HITS, AskRequest("How do I set the timeout?"), generator, stream=stream)

    assert [c.used for c in answer.citations] == [True, False, True]


@both
async def test_the_extractive_answer_marks_the_passages_it_quotes(stream: bool) -> None:
    five = [hit(f"docs/{n}.md", 0.5 + n / 100) for n in range(5)]

    answer, _ = await ask(five, AskRequest("How do I set the timeout?"), ExtractiveAnswerGenerator(), stream=stream)

    assert not answer.generated and not answer.abstained
    assert [c.used for c in answer.citations] == [True, True, True, False, False]


# -- checked citations


def passage(path: str, text: str) -> SearchHit:
    chunk = Chunk(f"id-{path}", "owner/widgets", path, "blob", "c0ffee", 0, text, 1, 4)
    return SearchHit(chunk, 0.5, 0.6)


PASSAGES = [
    passage("docs/timeout.md", "Set `timeout_seconds` in widgets.toml; the default is 30."),
    passage("docs/retries.md", "Retries: `max_retries` defaults to 5 with backoff."),
]
CHECKED_TEXT = "The default `timeout_seconds` is 30 [1]. Set `timeout_seconds` there [2]. See [7]."


async def ask_checked(
    policy: UnsupportedCitations, stream: bool, checker: CheckCitations | None = None
) -> tuple[GeneratedAnswer, list[AnswerEvent]]:
    """The answer to CHECKED_TEXT over PASSAGES, and its events when streamed."""
    answer_question = AnswerQuestion(
        ScriptedSearch(PASSAGES),
        ScriptedGenerator(CHECKED_TEXT),
        ScriptedRewriter(),
        None,
        checker=checker or CheckCitations(policy),
    )
    if not stream:
        return await answer_question.execute(AskRequest("Timeout?")), []
    events = [event async for event in answer_question.stream(AskRequest("Timeout?"))]
    *tokens, last = events
    assert isinstance(last, CitationsEvent)
    text = "".join(t.text for t in tokens if isinstance(t, TokenEvent))
    answer = GeneratedAnswer(text, last.citations, last.generated, citation_check=last.citation_check)
    return answer, events


@both
async def test_flag_keeps_unsupported_citations_in_the_answer_marked_with_the_reason(stream: bool) -> None:
    answer, _ = await ask_checked(UnsupportedCitations.FLAG, stream)

    assert answer.text.strip() == CHECKED_TEXT
    assert [(c.used, c.supported, c.reason) for c in answer.citations] == [
        (True, True, "[1] holds `timeout_seconds`, 30"),
        (True, False, "`timeout_seconds` is not in [2]"),
    ]
    assert answer.citation_check == CheckSummary(cited=3, supported=1, unsupported=2, invented=(7,))


@both
async def test_drop_removes_the_unsupported_markers_and_leaves_their_passages_unused(stream: bool) -> None:
    answer, events = await ask_checked(UnsupportedCitations.DROP, stream)

    assert answer.text.strip() == "The default `timeout_seconds` is 30 [1]. Set `timeout_seconds` there. See."
    assert [(c.used, c.supported) for c in answer.citations] == [(True, True), (False, False)]
    assert answer.citation_check == CheckSummary(cited=3, supported=1, unsupported=2, invented=(7,))
    if stream:  # held until checked: a marker once sent cannot be taken back
        assert [type(e) for e in events] == [TokenEvent, CitationsEvent]


async def test_flag_streams_the_tokens_as_they_come() -> None:
    _, events = await ask_checked(UnsupportedCitations.FLAG, stream=True)

    assert len(events) == len(CHECKED_TEXT.split(" ")) + 1


@both
async def test_with_the_dense_model_a_sentence_far_from_its_passage_is_unsupported(stream: bool) -> None:
    embedder = RecordingEmbedder()
    checker = CheckCitations(UnsupportedCitations.FLAG, embedder, close_enough=0.99)

    answer, _ = await ask_checked(UnsupportedCitations.FLAG, stream, checker)

    assert answer.citations[0].supported is False
    assert answer.citations[0].reason.startswith("the sentence is far from [1] (0.")
    cited_texts = [s for s in embedder.embedded if "`timeout_seconds`" in s and "[" not in s]
    assert len(cited_texts) == 3  # the two cited sentences and the first passage, in one call with the second
    assert embedder.calls == 1


async def test_an_embedder_that_fails_leaves_the_lexical_check() -> None:
    embedder = FailingEmbedder()
    checker = CheckCitations(UnsupportedCitations.FLAG, embedder, close_enough=0.3)

    answer, _ = await ask_checked(UnsupportedCitations.FLAG, False, checker)

    assert embedder.calls == 1
    assert [c.supported for c in answer.citations] == [True, False]


@both
async def test_the_extractive_answer_quotes_are_supported_without_looking_anything_up(stream: bool) -> None:
    embedder = RecordingEmbedder()
    five = [hit(f"docs/{n}.md", 0.5 + n / 100) for n in range(5)]
    checker = CheckCitations(UnsupportedCitations.DROP, embedder, close_enough=0.99)
    answer_question = AnswerQuestion(
        ScriptedSearch(five), ExtractiveAnswerGenerator(), ScriptedRewriter(), None, checker=checker
    )

    if stream:
        events = [e async for e in answer_question.stream(AskRequest("Timeout?"))]
        assert len(events) > 2  # streamed line by line, not held
        last = events[-1]
        assert isinstance(last, CitationsEvent)
        citations, summary = last.citations, last.citation_check
    else:
        answer = await answer_question.execute(AskRequest("Timeout?"))
        citations, summary = answer.citations, answer.citation_check

    assert [(c.supported, c.reason) for c in citations[:3]] == [(True, QUOTED)] * 3
    assert [c.supported for c in citations[3:]] == [None, None]
    assert summary == CheckSummary(cited=3, supported=3, unsupported=0, invented=())
    assert embedder.calls == 0


@both
async def test_an_abstained_answer_checks_nothing(stream: bool) -> None:
    answer, _ = await ask([hit("docs/a.md", 0.1)], AskRequest("Sourdough?"), abstain_below=0.4, stream=stream)

    assert answer.citation_check == NOT_CHECKED
    assert [c.supported for c in answer.citations] == [None]
