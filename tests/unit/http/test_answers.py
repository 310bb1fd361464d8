"""/v1/ask: answers with citations, whole or streamed as server-sent events."""

from __future__ import annotations

import httpx

from application.access import ANONYMOUS
from application.answering import AskRequest, CitationsEvent, GeneratedAnswer, TokenEvent
from domain.answers import ChatTurn
from domain.citation_check import CheckSummary
from domain.errors import UpstreamUnavailable
from entrypoints.container import Container
from tests.unit.fakes import RecordingUseCase, ScriptedAnswers
from tests.unit.http.helpers import (
    ABSTAINED,
    ANSWER,
    CHECKED_JSON,
    CITATION,
    CITATION_JSON,
    NOT_CHECKED_JSON,
    UNSUPPORTED,
    UNSUPPORTED_JSON,
    UNUSED,
    UNUSED_JSON,
    asked,
    sse,
    use,
)


async def test_ask_answers_with_citations(container: Container, client: httpx.AsyncClient) -> None:
    answer = RecordingUseCase(ANSWER)
    use(container.answer_question, answer)

    body = {"question": "Defaults?", "history": [{"role": "user", "content": "Hi"}], "k": 2}
    response = await client.post("/v1/ask", json=body)

    assert response.json() == {
        "answer": ANSWER.text,
        "generated": True,
        "search_query": "Defaults?",
        "abstained": False,
        "citations": [CITATION_JSON],
        "citation_check": CHECKED_JSON,
    }
    assert asked(answer) == AskRequest("Defaults?", (ChatTurn("user", "Hi"),), "default", 2, caller=ANONYMOUS)


async def test_an_abstained_answer_says_so_and_what_was_searched(
    container: Container, client: httpx.AsyncClient
) -> None:
    use(container.answer_question, RecordingUseCase(ABSTAINED))

    body = {"question": "And sourdough?", "history": [{"role": "user", "content": "Bread?"}]}
    answer = (await client.post("/v1/ask", json=body)).json()

    assert answer == {
        "answer": ABSTAINED.text,
        "generated": False,
        "search_query": "Sourdough?",
        "abstained": True,
        "citations": [UNUSED_JSON],
        "citation_check": NOT_CHECKED_JSON,
    }


async def test_a_streamed_answer_is_tokens_then_citations_then_done(
    container: Container, client: httpx.AsyncClient
) -> None:
    use(
        container.answer_question,
        ScriptedAnswers(
            [TokenEvent("Use "), TokenEvent("None [1]."), CitationsEvent((CITATION, UNUSED), True, search_query="Def")]
        ),
    )

    response = await client.post("/v1/ask", json={"question": "Defaults?", "stream": True})

    assert response.headers["content-type"].startswith("text/event-stream")
    final = {
        "citations": [CITATION_JSON, UNUSED_JSON],
        "generated": True,
        "search_query": "Def",
        "abstained": False,
        "citation_check": NOT_CHECKED_JSON,
    }
    assert sse(response) == [
        ("token", {"text": "Use "}),
        ("token", {"text": "None [1]."}),
        ("citations", final),
        ("done", {}),
    ]


async def test_a_streamed_answer_that_abstains_says_so_in_its_last_event(
    container: Container, client: httpx.AsyncClient
) -> None:
    events = [TokenEvent(ABSTAINED.text), CitationsEvent((UNUSED,), False, search_query="Sourdough?", abstained=True)]
    use(container.answer_question, ScriptedAnswers(events))

    response = await client.post("/v1/ask", json={"question": "Sourdough?", "stream": True})

    final = {
        "citations": [UNUSED_JSON],
        "generated": False,
        "search_query": "Sourdough?",
        "abstained": True,
        "citation_check": NOT_CHECKED_JSON,
    }
    assert sse(response) == [("token", {"text": ABSTAINED.text}), ("citations", final), ("done", {})]


async def test_a_stream_that_fails_before_its_first_token_is_an_error_status(
    container: Container, client: httpx.AsyncClient
) -> None:
    use(container.answer_question, ScriptedAnswers([], UpstreamUnavailable("Chroma is down")))

    response = await client.post("/v1/ask", json={"question": "Defaults?", "stream": True})

    assert response.status_code == 503
    assert response.json()["error"] == {"code": "upstream_unavailable", "message": "Chroma is down"}


async def test_a_stream_that_fails_midway_ends_with_an_error_event(
    container: Container, client: httpx.AsyncClient
) -> None:
    use(container.answer_question, ScriptedAnswers([TokenEvent("Use ")], UpstreamUnavailable("OpenAI is down")))

    response = await client.post("/v1/ask", json={"question": "Defaults?", "stream": True})

    assert sse(response) == [
        ("token", {"text": "Use "}),
        ("error", {"error": {"code": "upstream_unavailable", "message": "OpenAI is down"}}),
    ]  # neither citations nor done: the answer is not whole


async def test_each_citation_says_whether_it_is_supported_and_the_answer_counts_them(
    container: Container, client: httpx.AsyncClient
) -> None:
    checked = CheckSummary(cited=3, supported=1, unsupported=2, invented=(9,))
    answer = GeneratedAnswer(
        "None [1]; `max_size` is 8000 [2], see [9].", (CITATION, UNSUPPORTED), True, citation_check=checked
    )
    use(container.answer_question, RecordingUseCase(answer))

    response = (await client.post("/v1/ask", json={"question": "Defaults?"})).json()

    assert response["citations"] == [CITATION_JSON, UNSUPPORTED_JSON]
    assert response["citations"][1]["supported"] is False
    assert response["citation_check"] == {"cited": 3, "supported": 1, "unsupported": 2, "invented": [9]}


async def test_the_streamed_citations_event_carries_the_check(container: Container, client: httpx.AsyncClient) -> None:
    checked = CheckSummary(cited=2, supported=1, unsupported=1, invented=())
    events = [TokenEvent("`max_size` [2]."), CitationsEvent((CITATION, UNSUPPORTED), True, citation_check=checked)]
    use(container.answer_question, ScriptedAnswers(events))

    response = await client.post("/v1/ask", json={"question": "Defaults?", "stream": True})

    [(_, final)] = [(name, data) for name, data in sse(response) if name == "citations"]
    assert final["citations"] == [CITATION_JSON, UNSUPPORTED_JSON]
    assert final["citation_check"] == {"cited": 2, "supported": 1, "unsupported": 1, "invented": []}
