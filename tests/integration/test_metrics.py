"""GET /metrics of `repochat serve` after real work: an index job, a search and a streamed answer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.integration.fake_openai import FakeOpenAI, tokens
from tests.integration.helpers import ServeFactory, sse_events

PAUSE = 0.1
"""Seconds the fake model waits before each chunk of a streamed completion."""
REPLY = "Declare the parameter with a default of None to make it optional [1]."
DOCS = {
    "query.md": "# Query parameters\n\nDeclare an optional query parameter with a default of None.\n",
    "path.md": "# Path parameters\n\nPath parameters are declared with Python format strings.\n",
    "body.md": "# Request body\n\nDeclare a request body with a Pydantic model.\n",
}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class PacedBodies:
    """ASGI middleware sending each part of a response body PAUSE seconds after the last: a slow streaming model."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def paced(message: Message) -> None:
            if message["type"] == "http.response.body":
                await asyncio.sleep(PAUSE)
            await send(message)

        await self._app(scope, receive, paced)


@pytest.fixture
def slow_openai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI(reply=REPLY)
    fake.app.add_middleware(PacedBodies)
    with fake:
        yield fake


def samples(exposition: str) -> Samples:
    """Every sample of a Prometheus text exposition, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_the_job_embedding_search_llm_and_http_figures(
    serve: ServeFactory, slow_openai: FakeOpenAI, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text)
    server = serve(
        REPOCHAT_LOCAL_ROOTS=str(docs),
        REPOCHAT_LLM="openai",
        OPENAI_API_KEY="sk-test",
        OPENAI_BASE_URL=slow_openai.base_url,
    )

    accepted = server.client.post("/v1/repositories", json={"source": str(docs)})
    job = server.wait_for_job(accepted.json()["job_id"])
    assert job["state"] == "succeeded", job
    hits = server.client.post("/v1/search", json={"query": "optional query parameter", "k": 2}).json()["hits"]
    assert len(hits) == 2
    streamed = server.client.post("/v1/ask", json={"question": "How is a query parameter optional?", "stream": True})
    assert [name for name, _ in sse_events(streamed.text)][-2:] == ["citations", "done"]
    found = samples(server.client.get("/metrics").text)

    assert value(found, "repochat_job_seconds_count", state="succeeded") == 1
    assert value(found, "repochat_jobs", state="queued") == value(found, "repochat_jobs", state="running") == 0
    assert value(found, "repochat_indexed_files_total", outcome="indexed") == len(DOCS)
    chunks = job["result"]["chunks_written"]
    assert value(found, "repochat_indexed_chunks_total", operation="written") == chunks >= len(DOCS)

    embedding = {"embedder": "hashing-512", "outcome": "ok"}
    assert value(found, "repochat_embedding_call_seconds_count", **embedding, kind="documents") >= 1
    assert value(found, "repochat_embedded_texts_total", embedder="hashing-512", kind="documents") == chunks
    assert value(found, "repochat_embedding_call_seconds_count", **embedding, kind="query") == 2  # search, ask
    assert value(found, "repochat_search_seconds_count", mode="hybrid", outcome="ok") == 2

    llm = {"generator": "openai", "operation": "stream", "outcome": "ok"}
    chunks_streamed = len(tokens(REPLY)) + 4  # the role chunk, the tokens, the finish chunk, usage, [DONE]
    assert value(found, "repochat_llm_call_seconds_count", **llm) == 1
    assert value(found, "repochat_llm_call_seconds_sum", **llm) >= chunks_streamed * PAUSE
    assert value(found, "repochat_llm_tokens_total", generator="openai", kind="completion") == len(tokens(REPLY))

    def requests(method: str, route: str) -> float:
        return value(found, "repochat_http_requests_total", method=method, route=route, status="200")

    assert requests("POST", "/v1/search") == requests("POST", "/v1/ask") == 1
    assert requests("GET", "/v1/jobs/{job_id}") >= 1
    ask = {"method": "POST", "route": "/v1/ask"}
    assert value(found, "repochat_http_request_seconds_count", **ask) == 1
    # Timed to the end of the stream: the model's chunks came PAUSE seconds apart, the first after one pause.
    assert value(found, "repochat_http_request_seconds_sum", **ask) >= chunks_streamed * PAUSE
