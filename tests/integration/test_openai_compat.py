"""repochat as an OpenAI-compatible model, through the official `openai` client, and truthful streams.

`repochat serve` runs on the OpenAI settings against the OpenAI-shaped test server
(tests/integration/fake_openai.py), which can break a stream off mid-way; the adapter is also
driven directly. What is checked: /v1/models, unknown models as NotFoundError, the caller's
system message and sampling options reaching the model, citations as a structured field, real
usage, that an answer the upstream broke off is never reported as a whole one, and that a
follow-up question is rewritten by the model (through langchain-openai) into the query searched.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from adapters.llm.openai import OpenAIChatGenerator
from application.ports.generation import GenerationEnd, GenerationOptions, GenerationRequest
from domain.answers import SYSTEM_PROMPT
from domain.errors import UpstreamUnavailable
from domain.follow_ups import REWRITE_PROMPT
from tests.integration.fake_openai import FakeOpenAI, broken_stream, chat_usage, server_error, tokens
from tests.integration.helpers import ApiServer, repochat_env, sse_events
from tests.integration.test_openai_adapters import FIRST, HITS, QUESTION

KEY = "sk-test-compat-0123456789"
REPLY = "Declare the timeout option with a default of None [1]."
FILES = {"docs/config.md": "# Configuration\n\n## timeout\n\nThe timeout option defaults to None.\n"}
CHAT = "/v1/chat/completions"
HISTORY = [
    {"role": "user", "content": "What does the configuration page of Widgets cover?"},
    {"role": "assistant", "content": "The options of widgets.toml [1]."},
]
FOLLOW_UP = "And what does that one default to?"


def rewritten(question: str) -> str:
    """The fake model's standalone query for a follow-up: distinct per question, as repochat caches query vectors."""
    return f"widgets.toml timeout option default ({question})"


in_module_loop = pytest.mark.asyncio(loop_scope="module")


def scripted_reply(body: dict[str, Any]) -> str:
    """The rewrite of a follow-up when asked for one (repochat's rewrite prompt), else the answer."""
    messages = body["messages"]
    if messages[0]["content"] != REWRITE_PROMPT:
        return REPLY
    return rewritten(messages[-1]["content"].rsplit("Last question: ", 1)[1])


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY, reply=scripted_reply, dimensions=64) as server:
        yield server


@pytest.fixture(autouse=True)
def fresh(fake: FakeOpenAI) -> None:
    fake.reset()


@pytest.fixture(scope="module")
def server(fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """`repochat serve` on the OpenAI settings with the same folder indexed in `default` and `docs`."""
    root = tmp_path_factory.mktemp("openai-compat")
    for relative, text in FILES.items():
        (root / "widgets" / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / "widgets" / relative).write_text(text)
    env = repochat_env(root / "data", OPENAI_API_KEY=KEY, OPENAI_BASE_URL=fake.base_url, REPOCHAT_EMBEDDINGS="openai",
                       REPOCHAT_LOCAL_ROOTS=str(root))  # fmt: skip
    api = ApiServer(env, root / "serve.log", cwd=root)
    try:
        api.wait_ready("/readyz")
        for collection in ("default", "docs"):
            body = {"source": str(root / "widgets"), "collection": collection}
            accepted = api.client.post("/v1/repositories", json=body)
            assert accepted.status_code == 202, accepted.text
            job = api.wait_for_job(accepted.json()["job_id"], timeout=60)
            assert job["state"] == "succeeded", f"{job}\n{api.output()}"
        yield api
    finally:
        api.close()


@pytest.fixture
def client(server: ApiServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=30)


def user(text: str = QUESTION) -> list[Any]:
    return [{"role": "user", "content": text}]


# -- the adapter: a stream broken off raises


@in_module_loop
@pytest.mark.parametrize("abrupt", [False, True], ids=["body ended", "connection dropped"])
async def test_a_stream_the_upstream_breaks_off_raises_after_its_tokens(fake: FakeOpenAI, abrupt: bool) -> None:
    fake.fail_next(1, broken_stream(3, abrupt=abrupt), path=CHAT)
    generator = OpenAIChatGenerator("gpt-4o-mini", KEY, fake.base_url, httpx.AsyncClient(), temperature=0)
    pieces: list[object] = []

    with pytest.raises(UpstreamUnavailable):
        async for piece in generator.stream(FIRST):
            pieces.append(piece)

    assert pieces == tokens(REPLY)[:3]  # no GenerationEnd: the answer is not whole


@in_module_loop
async def test_the_adapter_sends_the_options_and_reports_a_cut_answer(fake: FakeOpenAI) -> None:
    generator = OpenAIChatGenerator("gpt-4o-mini", KEY, fake.base_url, httpx.AsyncClient(), temperature=0)
    options = GenerationOptions("Answer in French.", temperature=0.7, max_tokens=2, stop=("None",))

    request = GenerationRequest(QUESTION, tuple(HITS), options=options)
    generated = await generator.generate(request)
    *_, end = [piece async for piece in generator.stream(request)]

    assert generated.text == "".join(tokens(REPLY)[:2]) and generated.end.truncated
    assert isinstance(end, GenerationEnd) and end.truncated
    for request in fake.chat_requests:
        assert (request.body["temperature"], request.body["max_completion_tokens"]) == (0.7, 2)
        assert request.body["stop"] == ["None"]
        system = request.body["messages"][0]["content"]
        assert system.startswith(f"{SYSTEM_PROMPT}\n\nAnswer in French.\n\nSources:\n\n")


# -- the service: truthful streams


@pytest.mark.parametrize("abrupt", [False, True], ids=["body ended", "connection dropped"])
def test_ask_stream_broken_off_upstream_ends_with_an_error_event(
    server: ApiServer, fake: FakeOpenAI, abrupt: bool
) -> None:
    fake.fail_next(1, broken_stream(3, abrupt=abrupt), path=CHAT)

    response = server.client.post("/v1/ask", json={"question": QUESTION, "stream": True})

    events = sse_events(response.text)
    assert [name for name, _ in events] == ["token"] * 3 + ["error"]
    assert events[-1][1]["error"]["code"] == "upstream_unavailable"


@pytest.mark.parametrize("abrupt", [False, True], ids=["body ended", "connection dropped"])
def test_the_openai_client_sees_a_broken_off_stream_as_an_error_never_a_stop(
    client: openai.OpenAI, fake: FakeOpenAI, abrupt: bool
) -> None:
    fake.fail_next(1, broken_stream(3, abrupt=abrupt), path=CHAT)
    seen: list[Any] = []

    with pytest.raises(openai.APIError) as raised:
        for chunk in client.chat.completions.create(model="repochat", messages=user(), stream=True):
            seen.append(chunk)

    assert "broke off" in raised.value.message
    assert "".join(c.choices[0].delta.content or "" for c in seen) == "".join(tokens(REPLY)[:3])
    assert all(c.choices[0].finish_reason is None for c in seen)


# -- the service: OpenAI compatibility


def test_models_lists_repochat_and_each_collection(client: openai.OpenAI) -> None:
    models = client.models.list()

    assert [m.id for m in models.data] == ["repochat", "repochat:default", "repochat:docs"]
    assert all(m.object == "model" and m.owned_by == "repochat" and m.created > 0 for m in models.data)
    assert client.models.retrieve("repochat:docs").id == "repochat:docs"


@pytest.mark.parametrize("model", ["gpt-4o", "repochat:nowhere"])
def test_an_unknown_model_or_collection_is_not_found(client: openai.OpenAI, fake: FakeOpenAI, model: str) -> None:
    for stream in (False, True):
        with pytest.raises(openai.NotFoundError) as raised:
            client.chat.completions.create(model=model, messages=user(), stream=stream)
        assert raised.value.code == "model_not_found" and model in raised.value.message
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve(model)
    assert fake.chat_requests == []


def test_the_caller_s_system_message_and_options_reach_the_model(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    messages: list[Any] = [{"role": "system", "content": "Answer in French."}, *user()]

    completion = client.chat.completions.create(
        model="repochat:docs", messages=messages, temperature=0.3, max_tokens=4, stop=["zzz"]
    )

    [sent] = fake.chat_requests
    assert sent.body["messages"][0]["content"].startswith(f"{SYSTEM_PROMPT}\n\nAnswer in French.\n\nSources:")
    assert [m["role"] for m in sent.body["messages"]] == ["system", "user"]
    assert (sent.body["temperature"], sent.body["max_completion_tokens"], sent.body["stop"]) == (0.3, 4, ["zzz"])
    assert completion.choices[0].finish_reason == "length"
    assert (completion.choices[0].message.content or "").startswith("".join(tokens(REPLY)[:4]) + "\n\nSources:")


def test_a_completion_has_structured_citations_and_the_upstream_usage(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    completion = client.chat.completions.create(model="repochat", messages=user())

    [sent] = fake.chat_requests
    expected = chat_usage(sent.body["messages"], REPLY)
    assert completion.usage is not None
    assert completion.usage.model_dump(include=set(expected)) == expected
    citations = (completion.model_extra or {})["citations"]
    assert citations and citations[0]["path"] == "docs/config.md"
    assert citations[0]["url"] in (completion.choices[0].message.content or "")


def test_a_stream_ends_with_the_citations_and_asked_for_usage(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="repochat", messages=user(), stream=True, stream_options={"include_usage": True}
        )
    )

    *answer, finish, usage = chunks
    assert finish.choices[0].finish_reason == "stop"
    assert (finish.model_extra or {})["citations"][0]["path"] == "docs/config.md"
    [sent] = fake.chat_requests
    assert usage.choices == [] and usage.usage is not None
    assert usage.usage.total_tokens == chat_usage(sent.body["messages"], REPLY)["total_tokens"]
    assert "".join(c.choices[0].delta.content or "" for c in answer).startswith(REPLY)


def test_repochat_s_repository_ref_and_mode_ride_in_the_openai_client_s_extra_body(
    client: openai.OpenAI, fake: FakeOpenAI, server: ApiServer
) -> None:
    repository = server.client.get("/v1/repositories").json()["repositories"][0]["id"]
    filters = {"repository": repository, "ref": "HEAD", "mode": "keyword"}

    completion = client.chat.completions.create(model="repochat", messages=user(), extra_body=filters)

    citations = (completion.model_extra or {})["citations"]
    assert citations and {c["repository"] for c in citations} == {repository}
    assert fake.embedding_requests == []  # keyword mode: no query vector
    for stream in (False, True):
        with pytest.raises(openai.NotFoundError) as raised:
            client.chat.completions.create(model="repochat", messages=user(), stream=stream, extra_body={"ref": "v9"})
        assert "not indexed at v9; indexed: the default branch" in raised.value.message
    assert len(fake.chat_requests) == 1  # a ref not indexed never reaches the model


def test_limits_are_refused_before_the_model_is_called(server: ApiServer, fake: FakeOpenAI) -> None:
    long = server.client.post("/v1/ask", json={"question": "x" * (16 * 1024 + 1)})
    huge = server.client.post("/v1/ask", content=b" " * (1024 * 1024 + 1), headers={"content-type": "application/json"})

    assert long.status_code == 400 and "REPOCHAT_MAX_QUESTION_BYTES" in long.json()["error"]["message"]
    assert huge.status_code == 413 and "REPOCHAT_MAX_BODY_BYTES" in huge.json()["error"]["message"]
    assert fake.requests == []


# -- the service: follow-up questions


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_follow_up_is_rewritten_by_the_chat_model_and_the_rewrite_is_what_is_searched(
    server: ApiServer, fake: FakeOpenAI, stream: bool
) -> None:
    question = f"{FOLLOW_UP} ({'streamed' if stream else 'whole'})"
    response = server.client.post("/v1/ask", json={"question": question, "history": HISTORY, "stream": stream})

    assert response.status_code == 200, response.text
    rewrite, answer = fake.chat_requests
    assert rewrite.body["messages"][0] == {"role": "system", "content": REWRITE_PROMPT}
    assert rewrite.body["temperature"] == 0
    asked = rewrite.body["messages"][1]["content"]
    assert "user: What does the configuration page of Widgets cover?" in asked
    assert "assistant: The options of widgets.toml [1]." in asked and asked.endswith(f"Last question: {question}")
    assert [r.body["input"] for r in fake.embedding_requests] == [[rewritten(question)]]  # what was searched
    assert [m["content"] for m in answer.body["messages"][1:]] == [*(t["content"] for t in HISTORY), question]
    final = sse_events(response.text)[-2][1] if stream else response.json()
    assert (final["search_query"], final["abstained"]) == (rewritten(question), False)
    assert final["citations"][0]["path"] == "docs/config.md" and final["citations"][0]["used"] is True


def test_a_chat_completion_with_history_says_what_was_searched_beside_its_citations(
    client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    question = f"{FOLLOW_UP} (chat)"
    messages: list[Any] = [*HISTORY, {"role": "user", "content": question}]

    completion = client.chat.completions.create(model="repochat", messages=messages)

    extra = completion.model_extra or {}
    assert (extra["search_query"], extra["abstained"]) == (rewritten(question), False)
    assert extra["citations"][0]["used"] is True
    assert [r.body["input"] for r in fake.embedding_requests] == [[rewritten(question)]]


def test_a_failed_rewrite_searches_the_question_as_asked_logs_it_and_still_answers(
    server: ApiServer, fake: FakeOpenAI
) -> None:
    fake.fail_next(3, server_error(500), path=CHAT)  # the rewrite's call and both of langchain's retries

    question = f"{FOLLOW_UP} (no rewrite)"
    response = server.client.post("/v1/ask", json={"question": question, "history": HISTORY})

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["answer"], body["search_query"]) == (REPLY, question)
    assert [r.body["input"] for r in fake.embedding_requests] == [[question]]
    assert [r.status for r in fake.chat_requests] == [500, 500, 500, 200]
    assert "rewriting a follow-up question failed" in server.output()
