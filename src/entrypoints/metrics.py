"""Prometheus metrics that operate a repochat server: HTTP, search, embedding and LLM calls, index jobs.

One `Metrics` object per container holds its own CollectorRegistry (never the process-wide
default), so two apps in one process (tests) count apart. The figures are taken at the ports,
by decorators the container wraps around the adapters and use cases it builds: domain and
application code never sees Prometheus.

- `TimedRequests`: pure ASGI middleware timing each request to the last byte of its body, so a
  streamed answer counts its whole length, not the moment its first event left; and logging it, one
  line naming its caller (`key:NAME`, never the key).
- `MeteredEmbedder`, `MeteredAnswerGenerator`: every embedding and LLM call, its latency and outcome.
- `MeteredSearch`: search latency by the retrieval mode the search ranked by.
- `MeteredIndexing`: index jobs run in this process (the in-process queue): duration, final state,
  files and chunks. Jobs waiting or running are read from the queue's records at each scrape.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter as Tally
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.queue.inprocess import RunIndex
from application.ports.embeddings import Embedder
from application.ports.generation import AnswerGenerator, Generated, GenerationEnd, GenerationRequest, TokenUsage
from application.ports.jobs import JobQueue, ProgressReporter
from application.search import Search, SearchRequest, SearchResults
from domain.errors import RepochatError
from domain.jobs import IndexRequest, IndexResult, Job, JobState
from entrypoints.http.asgi import HttpMiddleware
from entrypoints.http.caller_state import caller_in

log = logging.getLogger(__name__)
request_log = logging.getLogger("repochat.requests")
"""One line per request (the server turns uvicorn's own access log off): what, how it ended, for whom."""

JOB_RECORDS_READ = 500
"""Newest job records counted by state at each scrape (the queued and running jobs are among them)."""
UNFINISHED_STATES = (JobState.QUEUED, JobState.RUNNING)
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LLM_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
JOB_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0)


class Metrics:
    """Every metric of one app, in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.http_requests = Counter(
            "repochat_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=registry
        )
        self.http_seconds = Histogram(
            "repochat_http_request_seconds",
            "HTTP request latency, to the last byte of the response body (streams included)",
            ["method", "route"],
            buckets=CALL_BUCKETS,
            registry=registry,
        )
        self.search_seconds = Histogram(
            "repochat_search_seconds", "Search latency (embed the query, query the index, keep live hits)",
            ["mode", "outcome"], buckets=CALL_BUCKETS, registry=registry,
        )  # fmt: skip
        self.embedding_seconds = Histogram(
            "repochat_embedding_call_seconds", "Embedding calls (kind: documents or query) and their latency",
            ["embedder", "kind", "outcome"], buckets=CALL_BUCKETS, registry=registry,
        )  # fmt: skip
        self.embedded_texts = Counter(
            "repochat_embedded_texts", "Texts sent to the embedder", ["embedder", "kind"], registry=registry
        )
        self.llm_seconds = Histogram(
            "repochat_llm_call_seconds", "Answer generations (operation: generate or stream, timed to the end)",
            ["generator", "operation", "outcome"], buckets=LLM_BUCKETS, registry=registry,
        )  # fmt: skip
        self.llm_tokens = Counter(
            "repochat_llm_tokens", "Tokens the model reported using (kind: prompt or completion)",
            ["generator", "kind"], registry=registry,
        )  # fmt: skip
        self.jobs = Gauge(
            "repochat_jobs", "Index jobs waiting (queued: the queue depth) or running, read from the job records",
            ["state"], registry=registry,
        )  # fmt: skip
        self.job_seconds = Histogram(
            "repochat_job_seconds", "Index jobs run by this process, by final state, and how long they ran",
            ["state"], buckets=JOB_BUCKETS, registry=registry,
        )  # fmt: skip
        self.indexed_files = Counter(
            "repochat_indexed_files", "Files of finished index jobs (outcome: indexed, unchanged, deleted, skipped)",
            ["outcome"], registry=registry,
        )  # fmt: skip
        self.access_denied = Counter(
            "repochat_access_denied", "Requests refused for who is calling (reason: missing_credentials, "
            "malformed_credentials, conflicting_keys, unknown_key, not_allowed)", ["reason"], registry=registry,
        )  # fmt: skip
        self.indexed_chunks = Counter(
            "repochat_indexed_chunks", "Chunks of finished index jobs (operation: written or deleted)",
            ["operation"], registry=registry,
        )  # fmt: skip

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_seconds.labels(method, route).observe(seconds)

    def count_denial(self, reason: str) -> None:
        self.access_denied.labels(reason).inc()

    def count_not_allowed(self) -> None:
        """A call the deployment does not allow its caller (NotAllowed: a role, REPOCHAT_LOCAL_ROOTS)."""
        self.count_denial("not_allowed")

    def count_tokens(self, generator: str, usage: TokenUsage | None) -> None:
        if usage is not None:
            self.llm_tokens.labels(generator, "prompt").inc(usage.prompt_tokens)
            self.llm_tokens.labels(generator, "completion").inc(usage.completion_tokens)

    def count_job(self, state: JobState, seconds: float, result: IndexResult | None) -> None:
        self.job_seconds.labels(state.value).observe(seconds)
        if result is None:
            return
        files = {"indexed": result.files_indexed, "unchanged": result.files_unchanged,
                 "deleted": result.files_deleted, "skipped": result.files_skipped}  # fmt: skip
        for outcome, count in files.items():
            self.indexed_files.labels(outcome).inc(count)
        self.indexed_chunks.labels("written").inc(result.chunks_written)
        self.indexed_chunks.labels("deleted").inc(result.chunks_deleted)

    async def read_jobs(self, queue: JobQueue | None) -> None:
        """Count the queued and running jobs of the queue's records; with no records to read
        (Hatchet keeps them, and exports its own queue metrics) or when they cannot be read, none."""
        jobs = await _job_records(queue)
        self.jobs.clear()  # only once read: a scrape meanwhile sees the previous counts
        if jobs is None:
            return
        states = Tally(job.state for job in jobs)
        for state in UNFINISHED_STATES:
            self.jobs.labels(state.value).set(states[state])


async def _job_records(queue: JobQueue | None) -> list[Job] | None:
    if queue is None:
        return None
    try:
        return await queue.recent(JOB_RECORDS_READ)
    except RepochatError as e:
        log.warning("metrics: cannot read the job records: %s", e.message)
        return None


@contextmanager
def timed(histogram: Histogram, **labels: str) -> Iterator[dict[str, str]]:
    """Observe the block's duration with an `outcome` label: ok, error (it raised), or cancelled.

    The block may change the labels it is given (a value it learns only once it has run)."""
    started = time.perf_counter()
    outcome = "cancelled"  # unless the block ends or raises an Exception: a cancellation is neither
    try:
        yield labels
        outcome = "ok"
    except Exception:
        outcome = "error"
        raise
    finally:
        histogram.labels(**labels, outcome=outcome).observe(time.perf_counter() - started)


# ---------------------------------------------------------------- HTTP


class TimedRequests(HttpMiddleware):
    """Counts each HTTP request by method, route and status, times it to the end of its body, and logs it:
    `METHOD path status seconds caller=NAME client=ADDRESS` (the path without its query string; the caller
    `-` where none was identified: a refused key, a probe, the page).

    The clock stops at the body message with `more_body` false, or when the app returns without one
    (a client that went away, an error answered by the server's outermost handler as a 500).
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        super().__init__(app)
        self._metrics = metrics

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("state", {})  # made here, so that what the edge leaves in it is seen here
        started = time.perf_counter()
        status = 500
        ended: float | None = None

        async def watched(message: Message) -> None:
            nonlocal status, ended
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                ended = time.perf_counter()
            await send(message)

        try:
            await self._app(scope, receive, watched)
        finally:
            seconds = (ended or time.perf_counter()) - started
            self._metrics.observe_request(scope["method"], route_of(scope), status, seconds)
            log_request(scope, status, seconds)


def log_request(scope: Scope, status: int, seconds: float) -> None:
    caller = caller_in(scope)
    client = scope.get("client")
    request_log.info(
        "%s %s %d %.3fs caller=%s client=%s",
        scope["method"], loggable(scope["path"]), status, seconds, caller.name if caller else "-",
        client[0] if client else "-",
    )  # fmt: skip


MAX_LOGGED_PATH = 512
_LINE_BREAKERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def loggable(path: str) -> str:
    """A request's path as one log line holds it: control characters escaped (anyone may send `%0A` and a
    forged line after it), cut to MAX_LOGGED_PATH characters."""
    escaped = _LINE_BREAKERS.sub(lambda found: found.group().encode("unicode_escape").decode(), path)
    return escaped if len(escaped) <= MAX_LOGGED_PATH else escaped[:MAX_LOGGED_PATH] + "…"


def route_of(scope: Scope) -> str:
    """A label value with few values: the template of the FastAPI route that served the request
    (`/v1/jobs/{job_id}`), the first path segment of another route or mount (`/mcp`, `/static`),
    or `unmatched` when no route took the path."""
    route = getattr(scope.get("route"), "path", None)
    if isinstance(route, str):
        return route
    if "endpoint" in scope:
        return "/" + str(scope["path"]).split("/")[1]
    return "unmatched"


# ---------------------------------------------------------------- ports and use cases


class MeteredEmbedder(Embedder):
    def __init__(self, embedder: Embedder, metrics: Metrics) -> None:
        self._embedder = embedder
        self._metrics = metrics

    @property
    def name(self) -> str:
        return self._embedder.name

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        with self._call("documents", len(texts)):
            return await self._embedder.embed_documents(texts)

    async def embed_query(self, text: str) -> list[float]:
        with self._call("query", 1):
            return await self._embedder.embed_query(text)

    def _call(self, kind: str, texts: int) -> AbstractContextManager[dict[str, str]]:
        self._metrics.embedded_texts.labels(self.name, kind).inc(texts)
        return timed(self._metrics.embedding_seconds, embedder=self.name, kind=kind)


class MeteredAnswerGenerator(AnswerGenerator):
    """Times each generation to its end (a stream: its last piece) and counts the tokens it reports."""

    def __init__(self, generator: AnswerGenerator, metrics: Metrics, name: str) -> None:
        self._generator = generator
        self._metrics = metrics
        self._name = name

    @property
    def generative(self) -> bool:
        return self._generator.generative

    async def generate(self, request: GenerationRequest) -> Generated:
        with timed(self._metrics.llm_seconds, generator=self._name, operation="generate"):
            generated = await self._generator.generate(request)
        self._metrics.count_tokens(self._name, generated.end.usage)
        return generated

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str | GenerationEnd]:
        with timed(self._metrics.llm_seconds, generator=self._name, operation="stream"):
            async for piece in self._generator.stream(request):
                if isinstance(piece, GenerationEnd):
                    self._metrics.count_tokens(self._name, piece.usage)
                yield piece


class MeteredSearch(Search):
    """Times each search, labelled by the retrieval mode its results say ranked them. The default mode
    is the search's to decide, not the timer's: a failed search is labelled by the mode it asked for,
    `default` when it named none."""

    def __init__(self, search: Search, metrics: Metrics) -> None:
        self._search = search
        self._metrics = metrics

    async def execute(self, request: SearchRequest) -> SearchResults:
        asked = request.mode.value if request.mode else "default"
        with timed(self._metrics.search_seconds, mode=asked) as labels:
            found = await self._search.execute(request)
            labels["mode"] = found.mode.value
        return found


class MeteredIndexing:
    """Runs index jobs (the in-process queue's `run_index`) and counts each once it ends."""

    def __init__(self, index: RunIndex, metrics: Metrics) -> None:
        self._index = index
        self._metrics = metrics

    async def execute(self, request: IndexRequest, progress: ProgressReporter) -> IndexResult:
        started = time.perf_counter()
        state = JobState.CANCELLED  # unless it returns or raises an Exception
        result: IndexResult | None = None
        try:
            result = await self._index(request, progress)
            state = JobState.SUCCEEDED
            return result
        except Exception:
            state = JobState.FAILED
            raise
        finally:
            self._metrics.count_job(state, time.perf_counter() - started, result)
