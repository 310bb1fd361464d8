"""The metric decorators of the ports and use cases, and the HTTP middleware, against fakes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from adapters.keyword.tantivy_index import TantivyKeywordIndex
from application.ports.generation import GenerationEnd, GenerationRequest, TokenUsage
from application.ports.jobs import ProgressReporter
from application.search import SearchDocuments, SearchRequest
from domain.errors import InvalidInput, UpstreamUnavailable
from domain.jobs import IndexRequest, IndexResult, Job, JobState, Progress
from domain.retrieval import RetrievalMode, RetrievalPolicy
from domain.sources import SourceKind, SourceSpec
from entrypoints.metrics import (
    MeteredAnswerGenerator,
    MeteredEmbedder,
    MeteredIndexing,
    MeteredSearch,
    Metrics,
    TimedRequests,
)
from tests.unit.fakes import (
    InMemoryManifestStore,
    InMemoryVectorIndex,
    RecordingEmbedder,
    RecordingJobQueue,
    RecordingProgress,
    ScriptedGenerator,
)

REQUEST = IndexRequest(SourceSpec(SourceKind.GITHUB, "owner/repo"))
STREAM_PAUSE = 0.05
"""Seconds a slow stream waits before each piece."""


def value(metrics: Metrics, name: str, **labels: str) -> float:
    """A sample's value; 0 when the registry has no such sample."""
    return metrics.registry.get_sample_value(name, labels) or 0.0


# -- embedding calls


async def test_the_metered_embedder_counts_calls_texts_and_latency_by_kind() -> None:
    metrics = Metrics()
    embedder = MeteredEmbedder(RecordingEmbedder(), metrics)

    await embedder.embed_documents(["one", "two", "three"])
    await embedder.embed_query("one")

    assert embedder.name == "letters"
    documents = {"embedder": "letters", "kind": "documents"}
    assert value(metrics, "repochat_embedding_call_seconds_count", **documents, outcome="ok") == 1
    assert value(metrics, "repochat_embedding_call_seconds_sum", **documents, outcome="ok") > 0
    assert value(metrics, "repochat_embedded_texts_total", **documents) == 3
    assert value(metrics, "repochat_embedding_call_seconds_count", embedder="letters", kind="query", outcome="ok") == 1
    assert value(metrics, "repochat_embedded_texts_total", embedder="letters", kind="query") == 1


async def test_a_failing_embedding_call_is_counted_as_an_error_and_still_raises() -> None:
    metrics = Metrics()
    embedder = MeteredEmbedder(RecordingEmbedder(fail_after_calls=0), metrics)

    with pytest.raises(RuntimeError):
        await embedder.embed_documents(["one"])

    labels = {"embedder": "letters", "kind": "documents"}
    assert value(metrics, "repochat_embedding_call_seconds_count", **labels, outcome="error") == 1
    assert value(metrics, "repochat_embedding_call_seconds_count", **labels, outcome="ok") == 0


# -- LLM calls


QUESTION = GenerationRequest("q", ())


class SlowStream(ScriptedGenerator):
    """Streams its words one by one, each after STREAM_PAUSE seconds."""

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str | GenerationEnd]:
        async for piece in super().stream(request):
            await asyncio.sleep(STREAM_PAUSE)
            yield piece


async def test_the_metered_generator_times_a_generation_and_counts_its_tokens() -> None:
    metrics = Metrics()
    generator = MeteredAnswerGenerator(ScriptedGenerator(end=GenerationEnd(TokenUsage(120, 8))), metrics, "openai")

    generated = await generator.generate(QUESTION)

    assert generated.text == "Use a default of None [1]." and generator.generative
    labels = {"generator": "openai", "operation": "generate", "outcome": "ok"}
    assert value(metrics, "repochat_llm_call_seconds_count", **labels) == 1
    assert value(metrics, "repochat_llm_tokens_total", generator="openai", kind="prompt") == 120
    assert value(metrics, "repochat_llm_tokens_total", generator="openai", kind="completion") == 8


async def test_a_stream_is_timed_to_its_last_piece_and_passed_on_whole() -> None:
    metrics = Metrics()
    end = GenerationEnd(TokenUsage(50, 6))
    generator = MeteredAnswerGenerator(SlowStream("a b c", end), metrics, "openai")

    pieces = [piece async for piece in generator.stream(QUESTION)]

    assert pieces == ["a ", "b ", "c ", end]
    labels = {"generator": "openai", "operation": "stream", "outcome": "ok"}
    assert value(metrics, "repochat_llm_call_seconds_count", **labels) == 1
    assert value(metrics, "repochat_llm_call_seconds_sum", **labels) >= 4 * STREAM_PAUSE
    assert value(metrics, "repochat_llm_tokens_total", generator="openai", kind="completion") == 6


async def test_a_stream_its_reader_leaves_early_is_counted_as_cancelled() -> None:
    metrics = Metrics()
    stream = MeteredAnswerGenerator(SlowStream("a b c"), metrics, "openai").stream(QUESTION)
    assert isinstance(stream, AsyncGenerator)

    assert await anext(stream) == "a "
    await stream.aclose()

    labels = {"generator": "openai", "operation": "stream"}
    assert value(metrics, "repochat_llm_call_seconds_count", **labels, outcome="cancelled") == 1
    assert value(metrics, "repochat_llm_call_seconds_count", **labels, outcome="ok") == 0


# -- search


async def test_the_metered_search_times_each_search_by_mode_and_outcome() -> None:
    metrics = Metrics()
    index = InMemoryVectorIndex()
    searching = SearchDocuments(RecordingEmbedder(), index, InMemoryManifestStore(), TantivyKeywordIndex(index))
    search = MeteredSearch(searching, metrics)

    assert (await search.execute(SearchRequest("anything"))).hits == ()
    assert (await search.execute(SearchRequest("anything", mode=RetrievalMode.KEYWORD))).hits == ()
    with pytest.raises(InvalidInput):
        await search.execute(SearchRequest("  "))
    with pytest.raises(InvalidInput):
        await search.execute(SearchRequest("  ", mode=RetrievalMode.DENSE))

    assert value(metrics, "repochat_search_seconds_count", mode="hybrid", outcome="ok") == 1
    assert value(metrics, "repochat_search_seconds_count", mode="keyword", outcome="ok") == 1
    assert value(metrics, "repochat_search_seconds_count", mode="default", outcome="error") == 1
    assert value(metrics, "repochat_search_seconds_count", mode="dense", outcome="error") == 1


async def test_the_metered_search_labels_by_the_default_mode_the_search_decided() -> None:
    metrics = Metrics()
    index = InMemoryVectorIndex()
    policy = RetrievalPolicy(mode=RetrievalMode.DENSE)
    searching = SearchDocuments(RecordingEmbedder(), index, InMemoryManifestStore(), TantivyKeywordIndex(index), policy)

    found = await MeteredSearch(searching, metrics).execute(SearchRequest("anything"))

    assert found.mode is RetrievalMode.DENSE
    assert value(metrics, "repochat_search_seconds_count", mode="dense", outcome="ok") == 1


# -- index jobs


def indexing(outcome: IndexResult | BaseException, metrics: Metrics) -> MeteredIndexing:
    async def run_index(_request: IndexRequest, progress: ProgressReporter) -> IndexResult:
        await progress.report("embedding", Progress())
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return MeteredIndexing(run_index, metrics)


async def test_a_finished_job_counts_its_files_chunks_and_duration() -> None:
    metrics = Metrics()
    result = IndexResult(files_indexed=4, files_unchanged=2, files_deleted=1, files_skipped=3, chunks_written=12,
                         chunks_deleted=5)  # fmt: skip
    progress = RecordingProgress()

    assert await indexing(result, metrics).execute(REQUEST, progress) == result

    assert [stage for stage, _ in progress.reports] == ["embedding"]
    assert value(metrics, "repochat_job_seconds_count", state="succeeded") == 1
    files = {"indexed": 4, "unchanged": 2, "deleted": 1, "skipped": 3}
    assert {o: value(metrics, "repochat_indexed_files_total", outcome=o) for o in files} == files
    assert value(metrics, "repochat_indexed_chunks_total", operation="written") == 12
    assert value(metrics, "repochat_indexed_chunks_total", operation="deleted") == 5


@pytest.mark.parametrize(
    ("error", "state"),
    [(UpstreamUnavailable("GitHub is down"), "failed"), (asyncio.CancelledError(), "cancelled")],
)
async def test_a_failed_or_cancelled_job_is_counted_by_its_state(error: BaseException, state: str) -> None:
    metrics = Metrics()

    with pytest.raises(type(error)):
        await indexing(error, metrics).execute(REQUEST, RecordingProgress())

    assert value(metrics, "repochat_job_seconds_count", state=state) == 1
    assert value(metrics, "repochat_job_seconds_count", state="succeeded") == 0
    assert value(metrics, "repochat_indexed_chunks_total", operation="written") == 0


async def test_queued_and_running_jobs_are_read_from_the_job_records_at_each_read() -> None:
    metrics = Metrics()
    queue = RecordingJobQueue()
    for _ in range(3):
        await queue.submit(REQUEST)
    queue.jobs["job-1"] = Job("job-1", "owner/repo", REQUEST, JobState.RUNNING)
    queue.jobs["job-4"] = Job("job-4", "owner/repo", REQUEST, JobState.SUCCEEDED)

    await metrics.read_jobs(queue)
    assert value(metrics, "repochat_jobs", state="queued") == 2
    assert value(metrics, "repochat_jobs", state="running") == 1
    assert metrics.registry.get_sample_value("repochat_jobs", {"state": "succeeded"}) is None

    queue.jobs.clear()
    await metrics.read_jobs(queue)
    assert value(metrics, "repochat_jobs", state="queued") == 0


class UnreachableQueue(RecordingJobQueue):
    async def recent(self, _limit: int = 50) -> list[Job]:
        raise UpstreamUnavailable("the job records cannot be read")


@pytest.mark.parametrize("queue", [None, UnreachableQueue()])
async def test_without_readable_job_records_no_job_figure_is_exported(queue: RecordingJobQueue | None) -> None:
    metrics = Metrics()
    metrics.jobs.labels("queued").set(7)

    await metrics.read_jobs(queue)

    assert metrics.registry.get_sample_value("repochat_jobs", {"state": "queued"}) is None


# -- HTTP


async def slow_events(_request: Request) -> Response:
    async def events() -> AsyncIterator[str]:
        for n in range(4):
            await asyncio.sleep(STREAM_PAUSE)
            yield f"data: {n}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


async def failing(_request: Request) -> Response:
    raise RuntimeError("a bug")


def timed_app(metrics: Metrics) -> TimedRequests:
    app = FastAPI()
    app.add_api_route("/v1/stream", slow_events)
    app.add_api_route("/v1/items/{item}", lambda item: {"item": item})
    app.add_api_route("/v1/fail", failing)
    app.router.routes.append(Route("/mcp", lambda _request: JSONResponse({})))  # not a FastAPI route
    return TimedRequests(app, metrics)


async def test_requests_are_counted_by_route_and_status_and_a_stream_is_timed_to_its_end() -> None:
    metrics = Metrics()
    transport = httpx.ASGITransport(app=timed_app(metrics), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/v1/stream")).text.count("data:") == 4
        for item in ("a", "b"):
            await client.get(f"/v1/items/{item}")
        await client.get("/mcp")
        assert (await client.get("/nowhere")).status_code == 404
        assert (await client.get("/v1/fail")).status_code == 500

    def requests(route: str, status: str) -> float:
        return value(metrics, "repochat_http_requests_total", method="GET", route=route, status=status)

    assert requests("/v1/items/{item}", "200") == 2
    assert requests("/mcp", "200") == 1
    assert requests("unmatched", "404") == 1
    assert requests("/v1/fail", "500") == 1
    streamed = {"method": "GET", "route": "/v1/stream"}
    assert requests("/v1/stream", "200") == 1
    assert value(metrics, "repochat_http_request_seconds_count", **streamed) == 1
    assert value(metrics, "repochat_http_request_seconds_sum", **streamed) >= 4 * STREAM_PAUSE
