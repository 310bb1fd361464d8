"""repochat's OpenAI-facing parts against a local server speaking OpenAI's REST shape.

Everything above the socket is real: langchain-openai and the `openai` client in the adapters,
the container, FastAPI under uvicorn, the in-process job queue, embedded Chroma; and the
official `openai` client calling repochat's own /v1/chat/completions. Only the model is fake
(tests/integration/fake_openai.py): scripted replies, hashed embeddings, injectable failures.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from pydantic import SecretStr

from adapters.embeddings.openai import OpenAIEmbedder
from adapters.llm.openai import OpenAIChatGenerator
from application.ports.generation import GenerationEnd, GenerationRequest, TokenUsage
from domain.answers import SYSTEM_PROMPT, ChatTurn, SearchHit, format_sources
from domain.documents import Chunk
from domain.errors import AccessDenied, RateLimited, UpstreamUnavailable
from domain.follow_ups import REWRITE_PROMPT
from entrypoints.container import Container
from entrypoints.settings import Settings
from tests.integration.fake_openai import (
    FakeOpenAI,
    chat_usage,
    embedding,
    rate_limited,
    server_error,
    slow,
    tokens,
    unauthorized,
)
from tests.integration.helpers import ApiServer, loopback_socket, repochat_env, sse_events

KEY = "sk-test-SECRET-0123456789abcdef"
WRONG_KEY = "sk-wrong-SECRET-fedcba9876543210"
CHAT_MODEL = "gpt-4o-mini"
EMBEDDING_MODEL = "text-embedding-3-small"
REPLY = "Declare it with a default of None [1]."

# One event loop for the module's async tests, as in a server process: langchain-openai's ChatOpenAI
# keeps a process-wide async HTTP client per (base_url, timeout), whose pooled connections belong to
# the loop that opened them (see test_generators_survive_a_new_event_loop).
in_module_loop = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY, reply=REPLY, dimensions=64) as server:
        yield server


@pytest.fixture(autouse=True)
def fresh(fake: FakeOpenAI) -> Iterator[None]:
    """Each test starts with no recorded requests, no pending faults, the default key and reply."""
    fake.reset()
    fake.api_key, fake.reply = KEY, REPLY
    yield
    fake.reset()
    fake.api_key, fake.reply = KEY, REPLY


def hit(number: int, path: str, text: str, start: int, end: int) -> SearchHit:
    chunk = Chunk(
        id=f"id{number}",
        repository="acme/widgets",
        path=path,
        blob_sha=f"blob{number}",
        commit="c0ffee",
        ordinal=0,
        text=text,
        start_line=start,
        end_line=end,
        url=f"https://github.com/acme/widgets/blob/c0ffee/{path}#L{start}-L{end}",
    )
    return SearchHit(chunk, 0.9 - number / 10)


HITS = [
    hit(1, "docs/config.md", "## timeout\n\nThe timeout option defaults to None.", 10, 12),
    hit(2, "src/widgets/client.py", "def connect(timeout=None):\n    ...", 1, 2),
]
HISTORY = [ChatTurn("user", "What is a widget?"), ChatTurn("assistant", "A widget is a gadget [1].")]
QUESTION = "How do I declare the timeout option?"
FOLLOW_UP = GenerationRequest(QUESTION, tuple(HITS), tuple(HISTORY))
FIRST = GenerationRequest(QUESTION, tuple(HITS))
"""The question with no earlier turns."""


def reported_end(fake: FakeOpenAI) -> GenerationEnd:
    """How the fake says its last chat answer ended: finished, with its usage."""
    usage = chat_usage(fake.chat_requests[-1].body["messages"], REPLY)
    return GenerationEnd(TokenUsage(usage["prompt_tokens"], usage["completion_tokens"]))


def generator(fake: FakeOpenAI, key: str = KEY, **kwargs: Any) -> OpenAIChatGenerator:
    return OpenAIChatGenerator(CHAT_MODEL, key, fake.base_url, httpx.AsyncClient(), **kwargs)


def embedder(fake: FakeOpenAI, key: str = KEY) -> OpenAIEmbedder:
    return OpenAIEmbedder(EMBEDDING_MODEL, key, fake.base_url, httpx.AsyncClient())


# -- OpenAIChatGenerator


@in_module_loop
async def test_generate_returns_reply_and_sends_sources_history_and_question_last(fake: FakeOpenAI) -> None:
    answer = await generator(fake).generate(FOLLOW_UP)

    assert answer.text == REPLY
    assert answer.end == reported_end(fake)
    [request] = fake.chat_requests
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body["model"] == CHAT_MODEL
    assert not request.body.get("stream")
    roles = [m["role"] for m in request.body["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    system, *turns = request.body["messages"]
    assert system["content"].startswith(SYSTEM_PROMPT)
    assert format_sources(HITS) in system["content"]
    assert "[1] acme/widgets:docs/config.md lines 10-12\n## timeout" in system["content"]
    assert "[2] acme/widgets:src/widgets/client.py lines 1-2\ndef connect(timeout=None):" in system["content"]
    assert [t["content"] for t in turns] == [HISTORY[0].content, HISTORY[1].content, QUESTION]


@in_module_loop
async def test_stream_yields_several_tokens_that_join_to_the_reply(fake: FakeOpenAI) -> None:
    *pieces, end = [piece async for piece in generator(fake).stream(FOLLOW_UP)]

    assert end == reported_end(fake)  # langchain asked for stream_options.include_usage
    assert len(pieces) > 3
    assert pieces == tokens(REPLY)
    [request] = fake.chat_requests
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    last = request.body["messages"][-1]
    assert (last["role"], last["content"]) == ("user", QUESTION)
    assert format_sources(HITS) in request.body["messages"][0]["content"]


@in_module_loop
async def test_refused_key_is_access_denied_without_the_key(fake: FakeOpenAI) -> None:
    """The fake's 401 quotes the key it was sent; repochat must not pass that on. 401 is not retried."""
    with pytest.raises(AccessDenied) as caught:
        await generator(fake, key=WRONG_KEY).generate(FIRST)
    assert WRONG_KEY not in str(caught.value) and WRONG_KEY not in caught.value.message
    assert "OPENAI_API_KEY" in caught.value.message
    assert [r.status for r in fake.chat_requests] == [401]

    with pytest.raises(AccessDenied) as caught:
        _ = [piece async for piece in generator(fake, key=WRONG_KEY).stream(FIRST)]
    assert WRONG_KEY not in str(caught.value)


@in_module_loop
async def test_server_errors_are_retried_by_the_client(fake: FakeOpenAI) -> None:
    fake.fail_next(2, server_error(500), path="/v1/chat/completions")

    assert (await generator(fake).generate(FIRST)).text == REPLY
    assert [r.status for r in fake.chat_requests] == [500, 500, 200]


@in_module_loop
async def test_server_errors_past_the_retries_are_upstream_unavailable(fake: FakeOpenAI) -> None:
    fake.fail_next(5, server_error(500), path="/v1/chat/completions")

    with pytest.raises(UpstreamUnavailable) as caught:
        await generator(fake).generate(FIRST)
    assert "HTTP 500" in caught.value.message
    assert [r.status for r in fake.chat_requests] == [500, 500, 500]  # max_retries=2


@in_module_loop
async def test_stream_server_error_is_upstream_unavailable(fake: FakeOpenAI) -> None:
    fake.fail_next(3, server_error(503), path="/v1/chat/completions")

    with pytest.raises(UpstreamUnavailable):
        _ = [piece async for piece in generator(fake).stream(FIRST)]
    assert len(fake.chat_requests) == 3


@in_module_loop
async def test_persistent_rate_limit_is_rate_limited(fake: FakeOpenAI) -> None:
    fake.fail_next(3, rate_limited(0.05), path="/v1/chat/completions")

    with pytest.raises(RateLimited):
        await generator(fake).generate(FIRST)
    assert [r.status for r in fake.chat_requests] == [429, 429, 429]


@in_module_loop
async def test_slow_answer_times_out_as_upstream_unavailable(fake: FakeOpenAI) -> None:
    fake.fail_next(3, slow(5), path="/v1/chat/completions")
    started = time.monotonic()

    with pytest.raises(UpstreamUnavailable) as caught:
        await generator(fake, timeout=0.3).generate(FIRST)
    assert time.monotonic() - started < 4.5
    assert "cannot reach" in caught.value.message
    assert len(fake.chat_requests) == 3


@in_module_loop
async def test_connection_refused_is_upstream_unavailable() -> None:
    with loopback_socket() as bound:  # bound, never listening: refused
        gen = OpenAIChatGenerator(CHAT_MODEL, KEY, f"http://127.0.0.1:{bound.getsockname()[1]}/v1", httpx.AsyncClient())

        with pytest.raises(UpstreamUnavailable) as caught:
            await gen.generate(FIRST)
    assert "OPENAI_BASE_URL" in caught.value.message
    assert KEY not in caught.value.message


def test_generators_survive_a_new_event_loop(fake: FakeOpenAI) -> None:
    """A process that runs two event loops (tests, a library user, a worker SDK) must get answers in both.

    ChatOpenAI's default async HTTP client is cached process-wide and never closed, so the adapter
    takes its owner's client instead: each loop's generator here has its own.
    """

    async def once() -> str:  # timeout=61.5: a cache key no other test shares
        return (await generator(fake, timeout=61.5).generate(FIRST)).text

    assert asyncio.run(once()) == REPLY
    assert asyncio.run(once()) == REPLY


# -- OpenAIEmbedder


@in_module_loop
async def test_embedder_returns_the_server_vectors(fake: FakeOpenAI) -> None:
    emb = embedder(fake)
    texts = ["The timeout option defaults to None.", "def connect(timeout=None): ..."]

    vectors = await emb.embed_documents(texts)
    query = await emb.embed_query("timeout default")

    assert emb.name == f"openai-{EMBEDDING_MODEL}"
    assert vectors == [embedding(t, 64) for t in texts]  # exact: float32 values survive base64 decoding
    assert query == embedding("timeout default", 64)
    first, second = fake.embedding_requests
    assert first.body["model"] == EMBEDDING_MODEL and second.body["model"] == EMBEDDING_MODEL
    assert first.body["input"] == texts  # strings, not token arrays: no tiktoken
    assert second.body["input"] == ["timeout default"]
    assert first.headers["authorization"] == f"Bearer {KEY}"


@in_module_loop
async def test_embedder_keeps_order_across_batches(fake: FakeOpenAI) -> None:
    texts = [f"passage number {i}" for i in range(1001)]  # langchain sends at most 1000 inputs a request

    vectors = await embedder(fake).embed_documents(texts)

    assert vectors == [embedding(t, 64) for t in texts]
    assert [len(r.body["input"]) for r in fake.embedding_requests] == [1000, 1]


@in_module_loop
async def test_embedder_refused_key_is_access_denied(fake: FakeOpenAI) -> None:
    with pytest.raises(AccessDenied) as caught:
        await embedder(fake, key=WRONG_KEY).embed_documents(["hello"])
    assert WRONG_KEY not in str(caught.value)
    with pytest.raises(AccessDenied):
        await embedder(fake, key=WRONG_KEY).embed_query("hello")
    assert [r.status for r in fake.embedding_requests] == [401, 401]


@in_module_loop
async def test_embedder_waits_out_a_rate_limit(fake: FakeOpenAI) -> None:
    fake.fail_next(1, rate_limited(0.2), path="/v1/embeddings")

    assert await embedder(fake).embed_query("hello") == embedding("hello", 64)
    limited, ok = fake.embedding_requests
    assert (limited.status, ok.status) == (429, 200)
    assert ok.at - limited.at >= 0.19


# -- the composition root, in process


@in_module_loop
async def test_container_wires_the_openai_adapters_from_settings(fake: FakeOpenAI, tmp_path: Path) -> None:
    """Settings built from field names (as the env names OPENAI_API_KEY/OPENAI_BASE_URL are aliases)."""
    settings = Settings(
        data_dir=tmp_path,
        embeddings="openai",
        openai_api_key=SecretStr(KEY),
        openai_base_url=fake.base_url,
        api_keys=None,
    )
    container = Container(settings=settings)
    assert settings.answer_mode == "openai"  # chosen by default because a key is set

    emb, gen = container.embedder(), container.answer_generator()

    assert isinstance(emb, OpenAIEmbedder) and isinstance(gen, OpenAIChatGenerator)
    assert emb.name == f"openai-{EMBEDDING_MODEL}"
    assert await emb.embed_query("hello") == embedding("hello", 64)
    assert (await gen.generate(FIRST)).text == REPLY
    embedded, chat = fake.requests
    assert (embedded.path, embedded.body["model"]) == ("/v1/embeddings", EMBEDDING_MODEL)
    assert (chat.path, chat.body["model"]) == ("/v1/chat/completions", CHAT_MODEL)
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in fake.requests)


# -- the whole service on the OpenAI settings, over HTTP


FILES = {
    "README.md": "# Widgets\n\nWidgets is a library of gadgets for dashboards.\n",
    "docs/config.md": "# Configuration\n\n## timeout\n\nThe timeout option defaults to None: "
    "declare the timeout option with a default of None to wait forever.\n",
    "src/widgets.py": "def render(widget):\n    return widget.draw()\n",
}


@dataclass
class Service:
    url: str
    http: httpx.Client
    repository: str
    job: dict[str, Any]
    indexing_requests: list[Any]
    server: ApiServer


@pytest.fixture(scope="module")
def api_server(fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """`repochat serve` for the whole module (the `serve` fixture's servers last one test), not yet waited for."""
    root = tmp_path_factory.mktemp("openai-service")
    for relative, text in FILES.items():
        (root / "widgets" / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / "widgets" / relative).write_text(text)
    env = repochat_env(
        root / "data",
        OPENAI_API_KEY=KEY,
        OPENAI_BASE_URL=fake.base_url,
        REPOCHAT_EMBEDDINGS="openai",
        REPOCHAT_EMBEDDING_MODEL=EMBEDDING_MODEL,
        REPOCHAT_CHAT_MODEL=CHAT_MODEL,
        REPOCHAT_LOCAL_ROOTS=str(root),
    )  # REPOCHAT_LLM unset: OpenAI answers are chosen because a key is set
    api = ApiServer(env, root / "serve.log", cwd=root)
    try:
        yield api
    finally:
        api.close()


@pytest.fixture(scope="module", autouse=True)
def start_service_early(request: pytest.FixtureRequest) -> None:
    """Start `repochat serve` before the adapter tests when service tests are selected, so its import overlaps them."""
    if any("service" in getattr(item, "fixturenames", ()) for item in request.session.items):
        request.getfixturevalue("api_server")


@pytest.fixture(scope="module")
def service(fake: FakeOpenAI, api_server: ApiServer) -> Iterator[Service]:
    api_server.wait_ready("/readyz")
    fake.reset()
    http = api_server.client
    accepted = http.post("/v1/repositories", json={"source": str(api_server.cwd / "widgets")})
    assert accepted.status_code == 202, accepted.text
    job = api_server.wait_for_job(accepted.json()["job_id"], timeout=30)
    assert job["state"] == "succeeded", f"{job['error']}\n{job}\n{api_server.output()}"
    yield Service(api_server.url, http, accepted.json()["repository"], job, list(fake.requests), api_server)
    fake.reset()


def test_indexing_embeds_through_the_openai_api(service: Service) -> None:
    result = service.job["result"]
    assert result["files_indexed"] == len(FILES)
    assert result["embedding_calls"] >= 1
    sent = [r for r in service.indexing_requests if r.path == "/v1/embeddings"]
    assert sent and all(r.status == 200 for r in sent)
    assert all(r.body["model"] == EMBEDDING_MODEL for r in sent)
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in sent)
    embedded = [text for r in sent for text in r.body["input"]]
    assert any("The timeout option defaults to None" in text for text in embedded)
    assert not [r for r in service.indexing_requests if r.path != "/v1/embeddings"]


def rewrites_to(query: str) -> Callable[[dict[str, Any]], str]:
    """A scripted reply that answers the follow-up rewrite with `query` and every other request with REPLY."""
    return lambda body: query if body["messages"][0]["content"] == REWRITE_PROMPT else REPLY


def test_ask_returns_the_scripted_answer_with_citations(service: Service, fake: FakeOpenAI) -> None:
    history = [{"role": "user", "content": "What is Widgets?"}, {"role": "assistant", "content": "A library [1]."}]
    fake.reply = rewrites_to(QUESTION)
    response = service.http.post("/v1/ask", json={"question": QUESTION, "history": history})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"] == REPLY
    assert body["generated"] is True
    citations = body["citations"]
    assert citations, body
    assert {c["path"] for c in citations} <= set(FILES)
    assert citations[0]["path"] == "docs/config.md"  # the hashed vectors share its words with the question
    for c in citations:
        assert c["repository"] == service.repository
        assert isinstance(c["start_line"], int) and isinstance(c["end_line"], int)
        assert 1 <= c["start_line"] <= c["end_line"]
        assert c["url"].startswith("file://")
        assert c["url"].endswith(f"/widgets/{c['path']}#L{c['start_line']}-L{c['end_line']}")

    [query] = fake.embedding_requests
    assert query.body["input"] == [QUESTION]
    rewrite, chat = fake.chat_requests  # the follow-up rewritten into a query first, then the answer
    assert "What is Widgets?" in rewrite.body["messages"][1]["content"]
    assert chat.body["model"] == CHAT_MODEL
    assert chat.headers["authorization"] == f"Bearer {KEY}"
    messages = chat.body["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert [m["content"] for m in messages[1:]] == ["What is Widgets?", "A library [1].", QUESTION]
    first = citations[0]
    source_1 = f"[1] {service.repository}:docs/config.md lines {first['start_line']}-{first['end_line']}\n"
    assert source_1 in messages[0]["content"]
    assert first["text"] in messages[0]["content"]
    assert len([line for line in messages[0]["content"].splitlines() if line.startswith("[")]) == len(citations)


def test_ask_stream_sends_tokens_then_citations_then_done(service: Service, fake: FakeOpenAI) -> None:
    plain = service.http.post("/v1/ask", json={"question": QUESTION}).json()
    fake.reset()

    response = service.http.post("/v1/ask", json={"question": QUESTION, "stream": True})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    names = [name for name, _ in events]
    assert names == ["token"] * (len(names) - 2) + ["citations", "done"]
    assert len(names) - 2 > 3
    assert "".join(data["text"] for name, data in events if name == "token") == REPLY
    assert events[-2][1]["citations"] == plain["citations"]
    assert events[-2][1]["generated"] is True
    [chat] = fake.chat_requests
    assert chat.body["stream"] is True


def test_official_openai_client_uses_repochat_as_a_model(service: Service, fake: FakeOpenAI) -> None:
    client = openai.OpenAI(base_url=service.url + "/v1", api_key="unused", max_retries=0, timeout=30)
    messages: list[Any] = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "What is Widgets?"},
        {"role": "assistant", "content": "A library [1]."},
        {"role": "user", "content": QUESTION},
    ]
    fake.reply = rewrites_to(QUESTION)

    completion = client.chat.completions.create(model="repochat", messages=messages)

    content = completion.choices[0].message.content or ""
    assert completion.object == "chat.completion"
    assert completion.choices[0].finish_reason == "stop"
    assert content.startswith(REPLY + "\n\nSources:\n[1] file://")
    sources = content.split("\n\nSources:\n", 1)[1].splitlines()
    assert sources[0].startswith("[1] file://") and "/widgets/docs/config.md#L" in sources[0]
    assert all(line.startswith(f"[{n}] file://") for n, line in enumerate(sources, start=1))
    rewrite, chat = fake.chat_requests  # what repochat sent upstream: the rewrite, then its prompt and the turns
    assert rewrite.body["messages"][0]["content"] == REWRITE_PROMPT
    assert [m["content"] for m in chat.body["messages"][1:]] == ["What is Widgets?", "A library [1].", QUESTION]
    fake.reset()

    stream = client.chat.completions.create(model="repochat", messages=messages, stream=True)
    chunks = list(stream)

    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == content
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 3
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    rewrite, chat = fake.chat_requests
    assert rewrite.body.get("stream") is not True and chat.body["stream"] is True


def test_openai_refusing_the_answer_is_403_without_the_key(service: Service, fake: FakeOpenAI) -> None:
    fake.fail_next(1, unauthorized(KEY), path="/v1/chat/completions")  # OpenAI quotes the key it got

    response = service.http.post("/v1/ask", json={"question": QUESTION})

    assert response.status_code == 403
    error = response.json()["error"]
    assert set(response.json()) == {"error"}
    assert error["code"] == "access_denied" and error["message"]
    assert KEY not in response.text
    assert [r.status for r in fake.chat_requests] == [401]


def test_openai_refusing_the_key_everywhere_is_403_without_the_key(service: Service, fake: FakeOpenAI) -> None:
    fake.api_key = "sk-someone-else"  # the fake's 401 now quotes repochat's key for every request

    response = service.http.post("/v1/ask", json={"question": QUESTION})

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "access_denied"
    assert KEY not in response.text
    assert [r.status for r in fake.requests] == [401]  # the query embedding, not retried; no chat call


def test_openai_refusal_before_the_first_token_is_403_not_a_stream(service: Service, fake: FakeOpenAI) -> None:
    fake.fail_next(1, unauthorized(KEY), path="/v1/chat/completions")

    response = service.http.post("/v1/ask", json={"question": QUESTION, "stream": True})

    assert KEY not in response.text
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "access_denied"


def test_official_openai_client_sees_upstream_refusal_as_errors(service: Service, fake: FakeOpenAI) -> None:
    client = openai.OpenAI(base_url=service.url + "/v1", api_key="unused", max_retries=0, timeout=30)
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    fake.fail_next(2, unauthorized(KEY), path="/v1/chat/completions")

    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.chat.completions.create(model="repochat", messages=messages)
    assert refused.value.status_code == 403
    assert KEY not in str(refused.value)

    with pytest.raises(openai.APIError) as failed:
        _ = list(client.chat.completions.create(model="repochat", messages=messages, stream=True))
    assert KEY not in str(failed.value)
    assert "refused the key" in failed.value.message


def test_fake_answers_like_openai_for_the_official_client(fake: FakeOpenAI) -> None:
    """The fake itself, checked with the official client: what the adapters rely on is OpenAI's shape."""
    client = openai.OpenAI(base_url=fake.base_url, api_key=KEY, max_retries=0)
    fake.reply = lambda body: f"echo: {body['messages'][-1]['content']}"

    completion = client.chat.completions.create(model=CHAT_MODEL, messages=[{"role": "user", "content": "hi there"}])
    assert completion.choices[0].message.content == "echo: hi there"
    assert completion.usage is not None and completion.usage.completion_tokens == 3

    chunks = list(
        client.chat.completions.create(
            model=CHAT_MODEL,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: hi"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None

    floats = client.embeddings.create(model=EMBEDDING_MODEL, input="a b", encoding_format="float", dimensions=8)
    packed = client.embeddings.create(model=EMBEDDING_MODEL, input=["a b"], dimensions=8)  # base64 by default
    assert floats.data[0].embedding == packed.data[0].embedding == embedding("a b", 8)
    assert fake.embedding_requests[1].body["encoding_format"] == "base64"

    with pytest.raises(openai.NotFoundError):
        client.completions.create(model=CHAT_MODEL, prompt="legacy")


def test_service_stops_cleanly_on_sigterm(service: Service) -> None:
    """Last: the lifespan closes the container, the data folder lock is released."""
    code = service.server.stop()
    assert code in (0, -signal.SIGTERM), service.server.output()  # uvicorn re-raises the signal it handled
    assert "Application shutdown complete" in service.server.output()
