"""/v1/ask: answers with citations, whole or streamed as server-sent events."""

from __future__ import annotations

import httpx

from application.answering import AskRequest, CitationsEvent, TokenEvent
from domain.answers import ChatTurn
from domain.errors import UpstreamUnavailable
from entrypoints.container import Container
from tests.unit.fakes import RecordingUseCase, ScriptedAnswers
from tests.unit.http.helpers import (
    ABSTAINED,
    ANSWER,
    CITATION,
    CITATION_JSON,
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
    }
    assert asked(answer) == AskRequest("Defaults?", (ChatTurn("user", "Hi"),), "default", 2)


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
    final = {"citations": [CITATION_JSON, UNUSED_JSON], "generated": True, "search_query": "Def", "abstained": False}
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

    final = {"citations": [UNUSED_JSON], "generated": False, "search_query": "Sourdough?", "abstained": True}
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
