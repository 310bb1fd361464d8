"""The OpenAI-compatible routes: /v1/chat/completions, whole and streamed, and /v1/models."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import httpx
import pytest

from application.access import ANONYMOUS
from application.answering import AskRequest, CitationsEvent, GeneratedAnswer, TokenEvent
from application.ports.generation import GenerationEnd, GenerationOptions, TokenUsage
from application.repositories import IndexedRepository
from domain.answers import ChatTurn
from domain.citation_check import CheckSummary
from domain.documents import Manifest
from domain.errors import NotFound, UpstreamUnavailable
from domain.retrieval import RetrievalMode
from entrypoints.container import Container
from tests.unit.fakes import RecordingUseCase, ScriptedAnswers
from tests.unit.http.helpers import (
    ABSTAINED,
    ANSWER,
    CHECKED_JSON,
    CITATION,
    CITATION_JSON,
    UNSUPPORTED,
    UNSUPPORTED_JSON,
    UNUSED,
    asked,
    chat,
    sse,
    use,
)


@pytest.fixture
def answer_question(container: Container) -> ScriptedAnswers:
    fake = ScriptedAnswers(answer=ANSWER)
    use(container.answer_question, fake)
    return fake


def indexed(*collections: str) -> RecordingUseCase[list[IndexedRepository]]:
    """ListRepositories answering one repository in each of `collections`, indexed at 2026-01-01T00:00:00Z."""
    manifest = Manifest("owner/repo", "github:owner/repo", "c0ffee", indexed_at="2026-01-01T00:00:00+00:00")
    return RecordingUseCase([IndexedRepository(collection, manifest) for collection in collections])


async def test_chat_model_repochat_asks_the_default_collection(
    client: httpx.AsyncClient, answer_question: RecordingUseCase[GeneratedAnswer]
) -> None:
    response = await client.post("/v1/chat/completions", json=chat({"role": "user", "content": "Defaults?"}))

    assert asked(answer_question) == AskRequest("Defaults?", (), "default", caller=ANONYMOUS)
    completion = response.json()
    assert completion["object"] == "chat.completion" and completion["model"] == "repochat"
    (choice,) = completion["choices"]
    assert choice["message"] == {"role": "assistant", "content": f"{ANSWER.text}\n\nSources:\n[1] {CITATION.url}"}
    assert choice["finish_reason"] == "stop"
    assert completion["citations"] == [CITATION_JSON]
    assert completion["citation_check"] == CHECKED_JSON
    assert (completion["search_query"], completion["abstained"]) == ("Defaults?", False)
    assert completion["usage"] == {"prompt_tokens": 120, "completion_tokens": 8, "total_tokens": 128}


async def test_chat_lists_the_cited_sources_in_the_text_and_none_when_it_abstains(
    container: Container, client: httpx.AsyncClient
) -> None:
    cited = replace(ANSWER, citations=(UNUSED, CITATION))
    for answer, listed in ((cited, f"\n\nSources:\n[2] {CITATION.url}"), (ABSTAINED, "")):
        use(container.answer_question, RecordingUseCase(answer))

        completion = (await client.post("/v1/chat/completions", json=chat({"role": "user", "content": "Hi"}))).json()

        assert completion["choices"][0]["message"]["content"] == answer.text + listed
        assert [c["used"] for c in completion["citations"]] == [c.used for c in answer.citations]
        assert completion["abstained"] is answer.abstained


UNSUPPORTED_SOURCES = (
    f"\n\nSources:\n[1] {CITATION.url}\n[3] {UNSUPPORTED.url} (unsupported: `max_size` is not in [2])\n"
    "[9] (unsupported: [9] is not a passage of this answer)"
)


async def test_chat_sources_say_which_citations_are_unsupported_and_why(
    container: Container, client: httpx.AsyncClient
) -> None:
    checked = CheckSummary(cited=3, supported=1, unsupported=2, invented=(9,))
    answer = replace(ANSWER, citations=(CITATION, UNUSED, UNSUPPORTED), citation_check=checked)
    use(container.answer_question, RecordingUseCase(answer))

    completion = (await client.post("/v1/chat/completions", json=chat({"role": "user", "content": "Hi"}))).json()

    assert completion["choices"][0]["message"]["content"] == answer.text + UNSUPPORTED_SOURCES
    assert completion["citations"][2] == UNSUPPORTED_JSON
    assert completion["citation_check"] == {"cited": 3, "supported": 1, "unsupported": 2, "invented": [9]}


async def test_a_streamed_chat_says_which_citations_are_unsupported_in_its_sources_chunk(
    container: Container, client: httpx.AsyncClient
) -> None:
    checked = CheckSummary(cited=3, supported=1, unsupported=2, invented=(9,))
    last = CitationsEvent((CITATION, UNUSED, UNSUPPORTED), True, citation_check=checked)
    use(container.answer_question, ScriptedAnswers([TokenEvent("Use None."), last]))

    response = await client.post("/v1/chat/completions", json=chat({"role": "user", "content": "Hi"}, stream=True))

    *chunks, _ = chunks_of(response)
    assert chunks[-2]["choices"][0]["delta"] == {"content": UNSUPPORTED_SOURCES}
    assert chunks[-1]["citation_check"]["invented"] == [9]


async def test_chat_usage_is_zeros_when_the_model_did_not_report_it(
    container: Container, client: httpx.AsyncClient
) -> None:
    use(container.answer_question, RecordingUseCase(GeneratedAnswer("Quoted.", (), False)))

    completion = (await client.post("/v1/chat/completions", json=chat({"role": "user", "content": "Hi"}))).json()

    assert completion["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


async def test_chat_says_length_when_max_tokens_cut_the_answer(container: Container, client: httpx.AsyncClient) -> None:
    use(container.answer_question, RecordingUseCase(GeneratedAnswer("Use a", (), True, GenerationEnd(truncated=True))))

    completion = (await client.post("/v1/chat/completions", json=chat({"role": "user", "content": "Hi"}))).json()

    assert completion["choices"][0]["finish_reason"] == "length"


async def test_chat_model_names_the_collection_after_the_colon(
    container: Container, client: httpx.AsyncClient, answer_question: ScriptedAnswers
) -> None:
    use(container.list_repositories, indexed("default", "docs"))

    await client.post("/v1/chat/completions", json=chat({"role": "user", "content": "Hi"}, model="repochat:docs"))

    assert asked(answer_question).collection == "docs"


@pytest.mark.parametrize("model", ["gpt-4o", "repochat:nowhere", "repochat:", "repochatx"])
async def test_chat_with_an_unknown_model_or_collection_is_a_404_in_openai_s_error_shape(
    container: Container, client: httpx.AsyncClient, answer_question: ScriptedAnswers, model: str
) -> None:
    use(container.list_repositories, indexed("default", "docs"))

    for stream in (False, True):
        body = chat({"role": "user", "content": "Hi"}, model=model, stream=stream)
        response = await client.post("/v1/chat/completions", json=body)

        assert response.status_code == 404
        error = response.json()["error"]
        assert error["code"] == "model_not_found" and error["type"] == "invalid_request_error"
        assert error["param"] is None and repr(model) in error["message"]
    assert answer_question.calls == []


async def test_chat_passes_system_messages_and_sampling_options_to_the_model(
    client: httpx.AsyncClient, answer_question: RecordingUseCase[GeneratedAnswer]
) -> None:
    body = chat(
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
        {"role": "user", "content": "What is a path parameter?"},
    )
    body |= {"temperature": 0.5, "max_tokens": 100, "stop": "END"}
    await client.post("/v1/chat/completions", json=body)
    await client.post("/v1/chat/completions", json=body | {"max_completion_tokens": 50, "stop": ["A", "B"]})

    first, second = (call[0] for call in answer_question.calls)
    assert isinstance(first, AskRequest) and isinstance(second, AskRequest)
    assert first.options == GenerationOptions("Be brief.\n\nAnswer in French.", 0.5, 100, ("END",))
    assert second.options == GenerationOptions("Be brief.\n\nAnswer in French.", 0.5, 50, ("A", "B"))
    assert first.history == ()


async def test_chat_accepts_the_fields_openai_clients_send_that_repochat_does_not_use(
    client: httpx.AsyncClient, answer_question: RecordingUseCase[GeneratedAnswer]
) -> None:
    message = {"role": "user", "content": "What is a path parameter?", "name": "ada"}
    body = chat(message) | {"n": 1, "top_p": 1.0, "user": "ada", "seed": 7, "presence_penalty": 0.0}

    response = await client.post("/v1/chat/completions", json=body)

    assert response.status_code == 200, response.text
    assert asked(answer_question).question == "What is a path parameter?"


@pytest.mark.parametrize(
    "extra",
    [{"temperature": 3}, {"temperature": "0.5"}, {"max_tokens": 0}, {"max_tokens": True}, {"stream": "yes"},
     {"stop": ["a", "b", "c", "d", "e"]}],
    ids=["temperature over 2", "temperature as text", "max_tokens 0", "max_tokens true", "stream as text",
         "five stops"],
)  # fmt: skip
async def test_chat_options_out_of_their_bounds_are_refused(
    client: httpx.AsyncClient, answer_question: RecordingUseCase[GeneratedAnswer], extra: dict[str, Any]
) -> None:
    response = await client.post("/v1/chat/completions", json=chat({"role": "user", "content": "Hi"}) | extra)

    assert response.status_code in (400, 422)
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert answer_question.calls == []


async def test_chat_asks_the_last_user_message_with_the_earlier_turns_as_history(
    client: httpx.AsyncClient, answer_question: RecordingUseCase[GeneratedAnswer]
) -> None:
    body = chat(
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is a path parameter?"},
        {"role": "assistant", "content": "A part of the path."},
        {"role": "user", "content": "And a query one?"},
    )
    await client.post("/v1/chat/completions", json=body)

    request = asked(answer_question)
    assert request.question == "And a query one?"
    assert request.history == (
        ChatTurn("user", "What is a path parameter?"),
        ChatTurn("assistant", "A part of the path."),
    )


async def test_chat_reads_the_text_parts_of_a_content_list(
    client: httpx.AsyncClient, answer_question: RecordingUseCase[GeneratedAnswer]
) -> None:
    parts = [
        {"type": "text", "text": "How do I "},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "text", "text": "add a default?"},
    ]
    await client.post("/v1/chat/completions", json=chat({"role": "user", "content": parts}))

    assert asked(answer_question).question == "How do I add a default?"


async def test_chat_takes_repochat_s_repository_ref_and_mode_from_the_body(
    client: httpx.AsyncClient, answer_question: ScriptedAnswers
) -> None:
    answer_question.events = [CitationsEvent((CITATION,), True, GenerationEnd())]
    extras = {"repository": "owner/repo", "ref": "v1", "mode": "keyword"}

    await client.post("/v1/chat/completions", json=chat({"role": "user", "content": "Hi"}) | extras)
    await client.post("/v1/chat/completions", json=chat({"role": "user", "content": "Hi"}, stream=True) | extras)
    await client.post("/v1/chat/completions", json=chat({"role": "user", "content": "Hi"}))

    expected = ("owner/repo", "v1", RetrievalMode.KEYWORD)
    requests = [request for (request,) in answer_question.calls if isinstance(request, AskRequest)]
    assert [(r.repository, r.ref, r.mode) for r in requests] == [expected, (None, None, None)]
    assert [(r.repository, r.ref, r.mode) for r in answer_question.streamed] == [expected]


async def test_chat_at_a_ref_not_indexed_is_a_404_in_openai_s_error_shape(
    container: Container, client: httpx.AsyncClient
) -> None:
    missing = NotFound("collection 'default' is not indexed at v9; indexed: the default branch")
    use(container.answer_question, ScriptedAnswers([], missing, answer=missing))

    for stream in (False, True):
        body = chat({"role": "user", "content": "Hi"}, stream=stream) | {"ref": "v9"}
        response = await client.post("/v1/chat/completions", json=body)

        assert response.status_code == 404
        error = response.json()["error"]
        assert (error["code"], error["message"]) == ("not_found", missing.message)
        assert error["type"] == "invalid_request_error"


async def test_chat_whose_last_message_is_not_from_the_user_is_a_400(
    client: httpx.AsyncClient, answer_question: RecordingUseCase[GeneratedAnswer]
) -> None:
    body = chat({"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"})
    response = await client.post("/v1/chat/completions", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"
    assert answer_question.calls == []


def chunks_of(response: httpx.Response) -> list[Any]:
    """The JSON of each `data:` line of a streamed completion, `[DONE]` as the string."""
    lines = [line.removeprefix("data: ") for line in response.text.split("\n\n") if line]
    return [line if line == "[DONE]" else json.loads(line) for line in lines]


async def test_a_streamed_chat_is_chunks_then_citations_then_done(
    container: Container, client: httpx.AsyncClient
) -> None:
    end = GenerationEnd(TokenUsage(120, 8))
    use(container.answer_question, ScriptedAnswers([TokenEvent("Use None."), CitationsEvent((CITATION,), True, end)]))

    response = await client.post("/v1/chat/completions", json=chat({"role": "user", "content": "Hi"}, stream=True))

    *chunks, done = chunks_of(response)
    assert done == "[DONE]"
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"content": "Use None."},
        {"content": f"\n\nSources:\n[1] {CITATION.url}"},
        {},
    ]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, None, "stop"]
    assert chunks[-1]["citations"] == [CITATION_JSON]
    assert (chunks[-1]["search_query"], chunks[-1]["abstained"]) == ("", False)
    assert chunks[-1]["citation_check"] == {"cited": 0, "supported": 0, "unsupported": 0, "invented": []}
    extras = ("citations", "search_query", "abstained", "citation_check", "usage")
    assert all(extra not in c for c in chunks[:-1] for extra in extras)


async def test_a_streamed_chat_ends_with_the_usage_when_asked_for(
    container: Container, client: httpx.AsyncClient
) -> None:
    end = GenerationEnd(TokenUsage(120, 8))
    use(container.answer_question, ScriptedAnswers([TokenEvent("Use None."), CitationsEvent((), True, end)]))

    body = chat({"role": "user", "content": "Hi"}, stream=True) | {"stream_options": {"include_usage": True}}
    *_, usage, done = chunks_of(await client.post("/v1/chat/completions", json=body))

    assert done == "[DONE]"
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 120, "completion_tokens": 8, "total_tokens": 128}


async def test_a_streamed_chat_that_breaks_off_ends_with_an_error_chunk_and_no_finish(
    container: Container, client: httpx.AsyncClient
) -> None:
    broken = ScriptedAnswers([TokenEvent("Use ")], UpstreamUnavailable("the stream broke off"))
    use(container.answer_question, broken)

    response = await client.post("/v1/chat/completions", json=chat({"role": "user", "content": "Hi"}, stream=True))

    *chunks, last = chunks_of(response)
    assert last == {"error": {"code": "upstream_unavailable", "message": "the stream broke off",
                              "type": "server_error", "param": None}}  # fmt: skip
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)


async def test_a_stream_that_breaks_off_on_a_bug_ends_with_an_internal_error(
    container: Container, client: httpx.AsyncClient
) -> None:
    use(container.answer_question, ScriptedAnswers([TokenEvent("Use ")], RuntimeError("secret detail")))

    response = await client.post("/v1/ask", json={"question": "Defaults?", "stream": True})

    name, data = sse(response)[-1]
    assert (name, data["error"]["code"]) == ("error", "internal_error")
    assert "secret" not in response.text


async def test_models_are_repochat_and_one_per_collection_in_openai_s_list_shape(
    container: Container, client: httpx.AsyncClient
) -> None:
    use(container.list_repositories, indexed("docs", "default", "docs"))

    models = (await client.get("/v1/models")).json()

    created = 1767225600  # 2026-01-01T00:00:00Z
    assert models == {
        "object": "list",
        "data": [
            {"id": "repochat", "object": "model", "created": created, "owned_by": "repochat"},
            {"id": "repochat:default", "object": "model", "created": created, "owned_by": "repochat"},
            {"id": "repochat:docs", "object": "model", "created": created, "owned_by": "repochat"},
        ],
    }
    assert (await client.get("/v1/models/repochat:docs")).json()["id"] == "repochat:docs"
    missing = await client.get("/v1/models/gpt-4o")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


async def test_with_nothing_indexed_the_models_are_repochat_alone(
    container: Container, client: httpx.AsyncClient
) -> None:
    use(container.list_repositories, indexed())

    assert [m["id"] for m in (await client.get("/v1/models")).json()["data"]] == ["repochat"]
