"""Request bodies: JSON's own types, no blank text, only their own fields, the question's size limit."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from application.search import SearchRequest, SearchResults
from domain.retrieval import RetrievalMode
from entrypoints.container import Container
from tests.unit.fakes import RecordingUseCase
from tests.unit.http.helpers import use


@pytest.mark.parametrize(
    ("path", "body"),
    [("/v1/search", {"query": "x", "k": "3"}), ("/v1/search", {"query": "x", "k": True}),
     ("/v1/search", {"query": "x", "k": 2.5}), ("/v1/search", {"query": ""}), ("/v1/search", {"query": " \n"}),
     ("/v1/search", {"query": 3}), ("/v1/ask", {"question": "x", "stream": "true"}), ("/v1/ask", {"question": ""}),
     ("/v1/ask", {"question": "x", "history": [{"role": "system", "content": "x"}]}),
     ("/v1/repositories", {"source": "owner/repo", "include": "docs/**"})],
    ids=["k as text", "k true", "k a fraction", "empty query", "blank query", "query a number", "stream as text",
         "empty question", "history role system", "include a string"],
)  # fmt: skip
async def test_bodies_take_json_s_own_types_and_no_blank_text(
    client: httpx.AsyncClient, path: str, body: dict[str, Any]
) -> None:
    response = await client.post(path, json=body)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(
    ("path", "body"),
    [("/v1/search", '{"query": "\\ud800"}'), ("/v1/search", '{"query": "x", "filters": {"ref": "a\\udfffb"}}'),
     ("/v1/ask", '{"question": "x", "history": [{"role": "\\ud800", "content": "x"}]}'),
     ("/v1/repositories", '{"source": "\\ud800"}'), ("/v1/search", '{"query": "x", "\\ud800": 1}'),
     ("/v1/chat/completions", '{"messages": [{"role": "user", "content": "x\\ud83d"}]}'),
     ("/v1/chat/completions", '{"messages": [{"role": "user", "content": "x"}], "user": "\\ud800"}')],
    ids=["query", "a filter", "a turn's role", "a source", "a key", "a chat message", "an ignored chat field"],
)  # fmt: skip
async def test_a_string_holding_a_lone_surrogate_is_a_422_that_says_so(
    client: httpx.AsyncClient, path: str, body: str
) -> None:
    """JSON may escape half of a UTF-16 pair alone; it is no character, and no answer could repeat it."""
    response = await client.post(path, content=body, headers={"content-type": "application/json"})

    assert response.status_code == 422, response.text
    assert "lone UTF-16 surrogate" in response.json()["error"]["message"]


async def test_a_character_escaped_as_a_utf_16_pair_is_text(container: Container, client: httpx.AsyncClient) -> None:
    search = RecordingUseCase(SearchResults((), RetrievalMode.HYBRID))
    use(container.search, search)

    response = await client.post("/v1/search", content='{"query": "\\ud83d\\ude00 emoji"}',
                                 headers={"content-type": "application/json"})  # fmt: skip

    assert response.status_code == 200, response.text
    (request,) = search.calls[-1]
    assert isinstance(request, SearchRequest) and request.query == "\U0001f600 emoji"


async def test_an_integer_may_be_written_with_a_zero_fraction(container: Container, client: httpx.AsyncClient) -> None:
    search = RecordingUseCase(SearchResults((), RetrievalMode.HYBRID))
    use(container.search, search)

    response = await client.post("/v1/search", json={"query": "x", "k": 22.0})

    assert response.status_code == 200, response.text
    (request,) = search.calls[-1]
    assert isinstance(request, SearchRequest) and request.k == 22 and isinstance(request.k, int)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [("/v1/repositories", {"source": "owner/repo", "branch": "main"}, "branch"),
     ("/v1/search", {"query": "x", "top_k": 3}, "top_k"),
     ("/v1/search", {"query": "x", "filters": {"path": "docs/"}}, "filters.path"),
     ("/v1/ask", {"question": "x", "history": [{"role": "user", "content": "x", "name": "me"}]}, "history.0.name")],
    ids=["index", "search", "nested filters", "a turn"],
)  # fmt: skip
async def test_a_field_the_body_does_not_have_is_a_422_naming_it(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], field: str
) -> None:
    response = await client.post(path, json=body)

    assert response.status_code == 422
    assert response.json()["error"] == {"code": "invalid_request", "message": f"{field}: not a field of this body"}


@pytest.mark.parametrize(("path", "body"), [("/v1/search", {"query": "x"}), ("/v1/ask", {"question": "x"})])
@pytest.mark.parametrize("field", ["ref", "repository"])
async def test_a_filter_sent_beside_the_query_is_a_422_that_says_it_belongs_under_filters(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], field: str
) -> None:
    response = await client.post(path, json=body | {field: "v1"})

    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert message == f"{field}: not a field of this body; send it as filters.{field}"
