"""/v1/search (and what /v1/ask shares with it): query, filters, ref and retrieval mode reach the use case."""

from __future__ import annotations

import httpx
import pytest

from application.access import ANONYMOUS
from application.answering import CitationsEvent
from application.ports.generation import GenerationEnd
from application.search import SearchRequest, SearchResults
from domain.answers import SearchHit
from domain.documents import Chunk
from domain.errors import NotFound
from domain.retrieval import RetrievalMode
from entrypoints.container import Container
from tests.unit.fakes import RecordingUseCase, ScriptedAnswers
from tests.unit.http.helpers import (
    ANSWER,
    CITATION,
    HIT_JSON,
    asked,
    use,
)


async def test_search_passes_the_query_and_filters_and_answers_hits(
    container: Container, client: httpx.AsyncClient
) -> None:
    chunk = Chunk("id", "owner/repo", "docs/a.md", "blob", "c0ffee", 0, CITATION.text, 3, 9, url=CITATION.url)
    search = RecordingUseCase(SearchResults((SearchHit(chunk, 0.123456, 0.612345),), RetrievalMode.HYBRID))
    use(container.search, search)

    body = {"query": "defaults", "k": 3, "collection": "docs", "filters": {"repository": "owner/repo"}}
    response = await client.post("/v1/search", json=body)

    assert search.calls == [(SearchRequest("defaults", 3, "docs", "owner/repo", caller=ANONYMOUS),)]
    assert response.json() == {"mode": "hybrid", "hits": [HIT_JSON]}  # mode: the one the search says ranked them


@pytest.mark.parametrize("mode", list(RetrievalMode))
async def test_search_and_ask_pass_the_retrieval_mode_and_say_which_ranked_the_hits(
    container: Container, client: httpx.AsyncClient, mode: RetrievalMode
) -> None:
    search, answer = RecordingUseCase(SearchResults((), mode)), RecordingUseCase(ANSWER)
    use(container.search, search)
    use(container.answer_question, answer)

    found = await client.post("/v1/search", json={"query": "defaults", "mode": mode.value})
    await client.post("/v1/ask", json={"question": "Defaults?", "mode": mode.value})

    assert search.calls == [(SearchRequest("defaults", mode=mode, caller=ANONYMOUS),)]
    assert found.json() == {"mode": mode.value, "hits": []}
    assert asked(answer).mode is mode


async def test_search_and_ask_pass_the_ref_filter(container: Container, client: httpx.AsyncClient) -> None:
    search = RecordingUseCase(SearchResults((), RetrievalMode.HYBRID))
    answer = ScriptedAnswers([CitationsEvent((CITATION,), True, GenerationEnd())], answer=ANSWER)
    use(container.search, search)
    use(container.answer_question, answer)
    filters = {"repository": "owner/repo", "ref": "v1"}

    await client.post("/v1/search", json={"query": "defaults", "filters": filters})
    await client.post("/v1/ask", json={"question": "Defaults?", "filters": filters})
    await client.post("/v1/ask", json={"question": "Defaults?", "filters": {"ref": "HEAD"}, "stream": True})

    assert search.calls == [(SearchRequest("defaults", repository="owner/repo", ref="v1", caller=ANONYMOUS),)]
    assert (asked(answer).repository, asked(answer).ref) == ("owner/repo", "v1")
    assert [(r.repository, r.ref) for r in answer.streamed] == [(None, "HEAD")]  # the use case reads HEAD


async def test_a_ref_no_repository_is_indexed_at_is_a_404_from_search_and_ask_streamed_or_not(
    container: Container, client: httpx.AsyncClient
) -> None:
    missing = NotFound("repository 'owner/repo' is not indexed at v9; indexed: the default branch, v1")
    use(container.search, RecordingUseCase[SearchResults](missing))
    use(container.answer_question, ScriptedAnswers([], missing, answer=missing))
    filters = {"repository": "owner/repo", "ref": "v9"}

    for path, body in (
        ("/v1/search", {"query": "defaults", "filters": filters}),
        ("/v1/ask", {"question": "Defaults?", "filters": filters}),
        ("/v1/ask", {"question": "Defaults?", "filters": filters, "stream": True}),
    ):
        response = await client.post(path, json=body)

        assert response.status_code == 404, (path, body)
        assert response.json() == {"error": {"code": "not_found", "message": missing.message}}


async def test_a_ref_filter_takes_a_string_only(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/search", json={"query": "defaults", "filters": {"ref": 1}})

    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("filters.ref: ")


async def test_an_unknown_retrieval_mode_is_a_422_that_names_the_modes(client: httpx.AsyncClient) -> None:
    for path, body in (("/v1/search", {"query": "x", "mode": "fuzzy"}), ("/v1/ask", {"question": "x", "mode": 1})):
        response = await client.post(path, json=body)

        assert response.status_code == 422
        assert "'hybrid', 'dense' or 'keyword'" in response.json()["error"]["message"]
