"""The input limits and the default retrieval mode, decided inside the use cases: every entrypoint
(HTTP, chat completions, CLI, MCP) calls these, so each refuses the same input with the same message."""

from __future__ import annotations

import pytest

from adapters.keyword.tantivy_index import TantivyKeywordIndex
from application.answering import AnswerQuestion, AskRequest
from application.search import SearchDocuments, SearchRequest
from domain.answers import ChatTurn
from domain.errors import InvalidInput
from domain.limits import MAX_K, InputLimits
from domain.retrieval import RetrievalMode, RetrievalPolicy
from tests.unit.fakes import (
    InMemoryManifestStore,
    InMemoryVectorIndex,
    RecordingEmbedder,
    ScriptedGenerator,
    ScriptedRewriter,
    ScriptedSearch,
)

LIMITS = InputLimits(max_question_bytes=10, max_history_bytes=20)


def search_documents(policy: RetrievalPolicy | None = None) -> SearchDocuments:
    index = InMemoryVectorIndex()
    stores = (index, InMemoryManifestStore(), TantivyKeywordIndex(index))
    return SearchDocuments(RecordingEmbedder(), *stores, policy or RetrievalPolicy(), LIMITS)


class Answering:
    """An AnswerQuestion under LIMITS, with the search, rewriter and generator it would call."""

    def __init__(self) -> None:
        self.search = ScriptedSearch()
        self.rewriter = ScriptedRewriter()
        self.generator = ScriptedGenerator()
        self.use_case = AnswerQuestion(self.search, self.generator, self.rewriter, None, LIMITS)

    async def refuses(self, request: AskRequest, stream: bool) -> str:
        """The message of the InvalidInput the request is refused with; nothing was rewritten, searched or asked."""
        with pytest.raises(InvalidInput) as refused:
            if stream:
                _ = [event async for event in self.use_case.stream(request)]
            else:
                await self.use_case.execute(request)
        assert self.rewriter.calls == [] and self.search.requests == [] and self.generator.requests == []
        return refused.value.message


both = pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])


async def test_a_query_over_the_byte_limit_is_refused_naming_its_size_and_the_setting() -> None:
    search = search_documents()
    assert (await search.execute(SearchRequest("é" * 5))).hits == ()  # 10 bytes: at the limit

    with pytest.raises(InvalidInput) as refused:
        await search.execute(SearchRequest("é" * 5 + "!"))

    assert refused.value.message == "the query is 11 bytes, over the limit of 10 (REPOCHAT_MAX_QUESTION_BYTES)"


@pytest.mark.parametrize("k", [0, MAX_K + 1])
async def test_a_search_for_k_outside_1_to_50_is_refused(k: int) -> None:
    with pytest.raises(InvalidInput, match=f"k must be between 1 and {MAX_K}"):
        await search_documents().execute(SearchRequest("quokka", k))


async def test_a_search_naming_no_mode_is_ranked_by_the_configured_default_and_says_so() -> None:
    search = search_documents(RetrievalPolicy(mode=RetrievalMode.KEYWORD))

    assert (await search.execute(SearchRequest("quokka"))).mode is RetrievalMode.KEYWORD
    assert (await search.execute(SearchRequest("quokka", mode=RetrievalMode.DENSE))).mode is RetrievalMode.DENSE


@both
async def test_a_question_over_the_byte_limit_is_refused_before_anything_is_searched(stream: bool) -> None:
    message = await Answering().refuses(AskRequest("x" * 11), stream)

    assert message == "the question is 11 bytes, over the limit of 10 (REPOCHAT_MAX_QUESTION_BYTES)"


@both
async def test_a_blank_question_is_refused(stream: bool) -> None:
    assert await Answering().refuses(AskRequest(" \n "), stream) == "the question is empty"


@both
async def test_a_history_over_its_byte_limit_is_refused(stream: bool) -> None:
    history = (ChatTurn("user", "x" * 10), ChatTurn("assistant", "y" * 11))

    message = await Answering().refuses(AskRequest("and then?", history), stream)

    assert message == "the history is 21 bytes, over the limit of 20 (REPOCHAT_MAX_HISTORY_BYTES)"


@both
async def test_an_answer_from_k_passages_outside_1_to_50_is_refused(stream: bool) -> None:
    assert await Answering().refuses(AskRequest("why?", k=MAX_K + 1), stream) == f"k must be between 1 and {MAX_K}"


async def test_a_question_and_history_within_the_limits_are_answered() -> None:
    answering = Answering()
    history = (ChatTurn("user", "x" * 10), ChatTurn("assistant", "y" * 10))

    answer = await answering.use_case.execute(AskRequest("and then?", history))

    assert answer.search_query == answering.rewriter.query and answering.search.requests
