"""The HTTP API in process: the real app from `create_app`, its use cases overridden by recording fakes.

httpx.ASGITransport does not run the lifespan, so nothing is opened unless a test opens it: the
fakes stand in for every use case a request reaches.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from dependency_injector import providers
from fastapi import FastAPI

from adapters.data_dir_lock import DataDirLock
from application.answering import AskRequest, CitationsEvent, GeneratedAnswer, TokenEvent
from application.ports.generation import GenerationEnd, GenerationOptions, TokenUsage
from application.repositories import IndexedRepository
from application.search import SearchRequest, SearchResults
from application.sync import PushSyncs, QueuedSync
from domain.answers import ChatTurn, Citation, SearchHit
from domain.documents import Chunk, Manifest, SkipCounts
from domain.errors import NotFound, RepochatError, UpstreamUnavailable
from domain.jobs import IndexRequest, IndexResult, Job, JobState, Progress
from domain.retrieval import RetrievalMode
from domain.sources import SourceKind, SourceSpec
from domain.sync import SyncKey
from domain.webhooks import Push, signature_of
from entrypoints.api import ERROR_STATUS, WEBHOOK_PATH, create_app
from entrypoints.container import Container
from entrypoints.settings import Settings
from tests.unit.fakes import RecordingJobQueue, RecordingUseCase, ScriptedAnswers

CITATION = Citation("docs/a.md", "owner/repo", "c0ffee", 3, 9, "https://github.com/owner/repo/blob/c0ffee/docs/a.md#L3-L9",
                    "Use a default of None.", 0.123456, 0.612345, None, used=True)  # fmt: skip
UNUSED = replace(CITATION, path="docs/b.md", url=CITATION.url.replace("a.md", "b.md"), used=False)
ANSWER = GeneratedAnswer(
    "Use a default of None [1].", (CITATION,), True, GenerationEnd(TokenUsage(120, 8)), "Defaults?"
)
HIT_JSON = {
    "text": "Use a default of None.",
    "path": "docs/a.md",
    "repository": "owner/repo",
    "commit": "c0ffee",
    "start_line": 3,
    "end_line": 9,
    "url": "https://github.com/owner/repo/blob/c0ffee/docs/a.md#L3-L9",
    "score": 0.1235,
    "similarity": 0.6123,
    "keyword_score": None,
}
CITATION_JSON = HIT_JSON | {"used": True}
UNUSED_JSON = CITATION_JSON | {"path": "docs/b.md", "url": UNUSED.url, "used": False}
ABSTAINED = GeneratedAnswer("I found nothing relevant.", (UNUSED,), False, search_query="Sourdough?", abstained=True)
SPEC = SourceSpec(SourceKind.GITHUB, "owner/repo")
FINISHED_JOB = Job(
    "job-1",
    "owner/repo",
    IndexRequest(SPEC, "docs"),
    JobState.SUCCEEDED,
    "done",
    Progress(4, 4, 12),
    IndexResult(files_indexed=4, chunks_written=12, embedding_calls=1, commit="c0ffee", skipped=SkipCounts(binary=2)),
    None,
    "2026-01-01T00:00:00+00:00",
    "2026-01-01T00:00:05+00:00",
)
DOMAIN_ERRORS = sorted(ERROR_STATUS.items(), key=lambda item: item[1])


def settings(**values: Any) -> Settings:
    """The embedded default, whatever the environment says."""
    defaults: dict[str, Any] = {"embeddings": "hashing", "job_queue": "inprocess", "chroma_url": None, "api_keys": None}
    return Settings(**(defaults | values))


USE_CASES = ("submit_index_job", "list_repositories", "get_repository", "forget_repository", "list_jobs",
             "get_job", "cancel_job", "search", "answer_question", "sync_pushed_ref")  # fmt: skip


def container_of(settings: Settings) -> Container:
    """A container whose use cases all fail until a test puts in the fake it expects to be called."""
    container = Container(settings=settings)
    for name in USE_CASES:
        use(getattr(container, name), RecordingUseCase[object](AssertionError(f"{name} was not expected")))
    return container


@pytest.fixture
def container(tmp_path: Path) -> Container:
    return container_of(settings(data_dir=tmp_path))


@pytest.fixture
def app(container: Container) -> FastAPI:
    return create_app(container)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://repochat") as http:
        yield http


def use(provider: providers.Provider[Any], fake: object) -> None:
    provider.override(providers.Object(fake))


def chat(*messages: dict[str, Any], model: str = "repochat", stream: bool = False) -> dict[str, Any]:
    return {"model": model, "messages": list(messages), "stream": stream}


def asked(fake: RecordingUseCase[GeneratedAnswer]) -> AskRequest:
    (request,) = fake.calls[-1]
    assert isinstance(request, AskRequest)
    return request


class _AnyText(str):
    """Equal to any non-empty text."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(other)

    __hash__ = str.__hash__


ANY_TEXT = _AnyText()


def sse(response: httpx.Response) -> list[tuple[str, Any]]:
    events = []
    for block in response.text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


# -- errors


@pytest.mark.parametrize(("error", "status"), DOMAIN_ERRORS, ids=[cls.__name__ for cls, _ in DOMAIN_ERRORS])
async def test_each_domain_error_has_its_status_and_the_error_body(
    container: Container, client: httpx.AsyncClient, error: type[RepochatError], status: int
) -> None:
    use(container.get_job, RecordingUseCase[Job](error("what went wrong")))

    response = await client.get("/v1/jobs/job-1")

    assert response.status_code == status
    assert response.json() == {"error": {"code": error.code, "message": "what went wrong"}}


async def test_an_unexpected_error_is_a_500_that_does_not_leak_its_message(
    container: Container, client: httpx.AsyncClient
) -> None:
    use(container.get_job, RecordingUseCase[Job](RuntimeError("secret detail")))

    response = await client.get("/v1/jobs/job-1")

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "secret" not in response.text


async def test_a_request_that_does_not_match_its_schema_is_a_422_in_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/search", json={"query": "x", "k": 0})

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["message"].startswith("k: ")


async def test_a_body_that_is_not_json_is_a_422_in_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/search", content=b"{not json", headers={"content-type": "application/json"})

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


async def test_an_unknown_route_is_a_404_in_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nowhere")

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "http_404", "message": "Not Found"}}


# -- API keys


@pytest.fixture
def keyed_client(tmp_path: Path) -> tuple[Container, FastAPI]:
    container = container_of(settings(data_dir=tmp_path, api_keys="alpha, beta"))
    use(container.list_jobs, RecordingUseCase[list[Job]]([]))
    return container, create_app(container)


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "unauthenticated"),
        ({"authorization": "Bearer gamma"}, 403, "forbidden"),
        ({"x-api-key": "gamma"}, 403, "forbidden"),
    ],
    ids=["no key", "wrong bearer key", "wrong X-API-Key"],
)
async def test_with_api_keys_configured_a_call_without_an_accepted_key_is_refused(
    keyed_client: tuple[Container, FastAPI], headers: dict[str, str], status: int, code: str
) -> None:
    _, app = keyed_client
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://repochat") as http:
        response = await http.get("/v1/jobs", headers=headers)

    assert response.status_code == status
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize(
    "headers", [{"authorization": "Bearer beta"}, {"x-api-key": "alpha"}], ids=["bearer", "X-API-Key"]
)
async def test_an_accepted_key_is_let_through_and_health_needs_none(
    keyed_client: tuple[Container, FastAPI], headers: dict[str, str]
) -> None:
    _, app = keyed_client
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://repochat") as http:
        assert (await http.get("/v1/jobs", headers=headers)).json() == {"jobs": []}
        assert (await http.get("/healthz")).status_code == 200


# -- routes call their use case with what the request says


async def test_index_request_queues_a_job_and_answers_202_with_it(
    container: Container, client: httpx.AsyncClient
) -> None:
    submit = RecordingUseCase(FINISHED_JOB)
    use(container.submit_index_job, submit)

    body = {"source": "github:owner/repo@v2", "collection": "docs", "include": ["docs/**"]}
    response = await client.post("/v1/repositories", json=body)

    assert response.status_code == 202
    assert response.json()["job_id"] == "job-1" and response.json()["repository"] == "owner/repo"
    (request,) = submit.calls[0]
    assert isinstance(request, IndexRequest) and request.collection == "docs"
    assert (request.source.location, request.source.ref, request.source.include) == ("owner/repo", "v2", ("docs/**",))


async def test_a_job_of_a_named_ref_says_which(container: Container, client: httpx.AsyncClient) -> None:
    tagged = replace(FINISHED_JOB, request=IndexRequest(replace(SPEC, ref="v2"), "docs"))
    use(container.get_job, RecordingUseCase(tagged))

    job = (await client.get("/v1/jobs/job-1")).json()

    assert (job["repository"], job["ref"]) == ("owner/repo", "v2")


async def test_a_job_is_shown_with_its_progress_and_result(container: Container, client: httpx.AsyncClient) -> None:
    get = RecordingUseCase(FINISHED_JOB)
    use(container.get_job, get)

    job = (await client.get("/v1/jobs/job-1")).json()

    assert get.calls == [("job-1",)]
    assert job == {
        "id": "job-1",
        "repository": "owner/repo",
        "collection": "docs",
        "ref": None,
        "state": "succeeded",
        "stage": "done",
        "progress": {"files_total": 4, "files_done": 4, "chunks_written": 12},
        "result": {
            "files_indexed": 4,
            "files_unchanged": 0,
            "files_deleted": 0,
            "files_skipped": 0,
            "chunks_written": 12,
            "chunks_deleted": 0,
            "embedding_calls": 1,
            "commit": "c0ffee",
            "skipped": {"binary": 2, "too_large": 0, "unsafe": 0, "filtered": 0},
            "chunks_reused": 0,
        },
        "error": None,
        "created_at": "2026-01-01T00:00:00+00:00",
        "updated_at": "2026-01-01T00:00:05+00:00",
    }


async def test_search_passes_the_query_and_filters_and_answers_hits(
    container: Container, client: httpx.AsyncClient
) -> None:
    chunk = Chunk("id", "owner/repo", "docs/a.md", "blob", "c0ffee", 0, CITATION.text, 3, 9, url=CITATION.url)
    search = RecordingUseCase(SearchResults((SearchHit(chunk, 0.123456, 0.612345),), RetrievalMode.HYBRID))
    use(container.search, search)

    body = {"query": "defaults", "k": 3, "collection": "docs", "filters": {"repository": "owner/repo"}}
    response = await client.post("/v1/search", json=body)

    assert search.calls == [(SearchRequest("defaults", 3, "docs", "owner/repo"),)]
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

    assert search.calls == [(SearchRequest("defaults", mode=mode),)]
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

    assert search.calls == [(SearchRequest("defaults", repository="owner/repo", ref="v1"),)]
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


# -- repositories, one entry per ref

MAIN = Manifest("owner/repo", "github:owner/repo", "c0ffee" * 6, {"a.md": "1"}, {"a.md": 2},
                "2026-01-01T00:00:00+00:00", web_url="https://github.com/owner/repo")  # fmt: skip
V1 = replace(MAIN, commit="0ff1ce" * 6, ref="v1", indexed_at="2026-01-02T00:00:00+00:00")


def repository_json(manifest: Manifest, searched_by_default: bool) -> dict[str, Any]:
    """The entry of `manifest` in collection `docs`, but its sync (the sync tests' business)."""
    return {
        "id": "owner/repo",
        "collection": "docs",
        "source": "github:owner/repo",
        "ref": manifest.ref,
        "commit": manifest.commit,
        "searched_by_default": searched_by_default,
        "files": 1,
        "chunks": 2,
        "indexed_at": manifest.indexed_at,
        "web_url": "https://github.com/owner/repo",
    }


def without_sync(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{name: value for name, value in entry.items() if name != "sync"} for entry in entries]


async def test_repositories_are_listed_one_per_ref_with_its_commit_and_the_one_searched_by_default(
    container: Container, client: httpx.AsyncClient
) -> None:
    entries = [IndexedRepository("docs", MAIN), IndexedRepository("docs", V1, searched_by_default=False)]
    use(container.list_repositories, RecordingUseCase(entries))
    use(container.get_repository, RecordingUseCase(entries))

    listed = (await client.get("/v1/repositories")).json()
    shown = (await client.get("/v1/repositories/owner/repo")).json()

    assert without_sync(listed["repositories"]) == [repository_json(MAIN, True), repository_json(V1, False)]
    assert shown == {"repository": "owner/repo", "collections": listed["repositories"]}


@pytest.mark.parametrize(
    ("query", "called"),
    [
        ({}, ("owner/repo", None, None)),
        ({"ref": "v1"}, ("owner/repo", None, "v1")),
        ({"ref": "HEAD", "collection": "docs"}, ("owner/repo", "docs", "HEAD")),
    ],
)
async def test_forget_takes_one_ref_and_one_collection_from_the_query(
    container: Container, client: httpx.AsyncClient, query: dict[str, str], called: tuple[object, ...]
) -> None:
    forget = RecordingUseCase([IndexedRepository("docs", V1, searched_by_default=False)])
    use(container.forget_repository, forget)

    response = await client.delete(f"/v1/repositories/owner/repo?{urlencode(query)}")

    assert forget.calls == [called]
    assert without_sync(response.json()["forgotten"]) == [repository_json(V1, False)]


async def test_forgetting_a_ref_not_indexed_is_a_404_naming_the_refs_that_are(
    container: Container, client: httpx.AsyncClient
) -> None:
    missing = NotFound("repository 'owner/repo' is not indexed at v9; indexed: the default branch, v1")
    use(container.forget_repository, RecordingUseCase[list[IndexedRepository]](missing))

    response = await client.delete("/v1/repositories/owner/repo?ref=v9")

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": missing.message}}


async def test_readiness_reports_each_dependency(container: Container, client: httpx.AsyncClient) -> None:
    queue = RecordingJobQueue()
    use(container.job_queue, queue)

    class DownIndex:
        async def ping(self) -> None:
            raise UpstreamUnavailable("cannot reach Chroma")

    use(container.vector_index, DownIndex())

    response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "not ready",
        "checks": {"vector_store": "cannot reach Chroma", "job_queue": "ok"},
    }


# -- chat completions


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

    assert asked(answer_question) == AskRequest("Defaults?", (), "default")
    completion = response.json()
    assert completion["object"] == "chat.completion" and completion["model"] == "repochat"
    (choice,) = completion["choices"]
    assert choice["message"] == {"role": "assistant", "content": f"{ANSWER.text}\n\nSources:\n[1] {CITATION.url}"}
    assert choice["finish_reason"] == "stop"
    assert completion["citations"] == [CITATION_JSON]
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
    container: Container, client: httpx.AsyncClient, answer_question: RecordingUseCase[GeneratedAnswer]
) -> None:
    use(container.list_repositories, indexed("default", "docs"))

    await client.post("/v1/chat/completions", json=chat({"role": "user", "content": "Hi"}, model="repochat:docs"))

    assert asked(answer_question).collection == "docs"


@pytest.mark.parametrize("model", ["gpt-4o", "repochat:nowhere", "repochat:", "repochatx"])
async def test_chat_with_an_unknown_model_or_collection_is_a_404_in_openai_s_error_shape(
    container: Container, client: httpx.AsyncClient, answer_question: RecordingUseCase[GeneratedAnswer], model: str
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
    extras = ("citations", "search_query", "abstained", "usage")
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


# -- /v1/models


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


# -- input limits and strict types


@pytest.mark.parametrize("limit", ["0", "-1", "501", str(10**30), "ten"])
async def test_the_jobs_listed_are_between_1_and_500(client: httpx.AsyncClient, limit: str) -> None:
    response = await client.get("/v1/jobs", params={"limit": limit})

    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("query.limit: ")


async def test_the_jobs_limit_reaches_the_use_case(container: Container, client: httpx.AsyncClient) -> None:
    jobs = RecordingUseCase[list[Job]]([])
    use(container.list_jobs, jobs)

    assert (await client.get("/v1/jobs", params={"limit": "500"})).status_code == 200
    assert jobs.calls == [(500,)]


@pytest.mark.parametrize(
    ("path", "body"),
    [("/v1/search", {"query": "x", "k": "3"}), ("/v1/search", {"query": "x", "k": True}),
     ("/v1/search", {"query": "x", "k": 2.0}), ("/v1/search", {"query": ""}), ("/v1/search", {"query": " \n"}),
     ("/v1/search", {"query": 3}), ("/v1/ask", {"question": "x", "stream": "true"}), ("/v1/ask", {"question": ""}),
     ("/v1/ask", {"question": "x", "history": [{"role": "system", "content": "x"}]}),
     ("/v1/repositories", {"source": "owner/repo", "include": "docs/**"})],
    ids=["k as text", "k true", "k float", "empty query", "blank query", "query a number", "stream as text",
         "empty question", "history role system", "include a string"],
)  # fmt: skip
async def test_bodies_take_json_s_own_types_and_no_blank_text(
    client: httpx.AsyncClient, path: str, body: dict[str, Any]
) -> None:
    response = await client.post(path, json=body)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"


@pytest.fixture
def limited(tmp_path: Path) -> FastAPI:
    return create_app(container_of(settings(data_dir=tmp_path, max_question_bytes=10, max_body_bytes=200)))


@pytest.mark.parametrize(
    ("path", "body"),
    [("/v1/ask", {"question": "é" * 6}), ("/v1/search", {"query": "x" * 11}),
     ("/v1/chat/completions", chat({"role": "user", "content": "x" * 11}))],
    ids=["ask", "search", "chat"],
)  # fmt: skip
async def test_a_question_over_the_limit_is_a_422_that_says_so(
    limited: FastAPI, path: str, body: dict[str, Any]
) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=limited), base_url="http://repochat") as http:
        response = await http.post(path, json=body)

    assert response.status_code == 422
    assert "over the limit of 10" in response.json()["error"]["message"]
    assert "REPOCHAT_MAX_QUESTION_BYTES" in response.json()["error"]["message"]


async def test_a_body_over_the_limit_is_a_413_declared_or_streamed(limited: FastAPI) -> None:
    body = json.dumps({"question": "x", "history": [{"role": "user", "content": "y" * 300}]}).encode()

    async def chunked() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 50):
            yield body[start : start + 50]

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=limited), base_url="http://repochat") as http:
        declared = await http.post("/v1/ask", content=body, headers={"content-type": "application/json"})
        streamed = await http.post("/v1/ask", content=chunked(), headers={"content-type": "application/json"})

    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "request_too_large"
        assert "REPOCHAT_MAX_BODY_BYTES" in response.json()["error"]["message"]


async def test_a_method_a_route_does_not_take_is_a_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.put("/v1/search", json={"query": "x"})

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error"]["code"] == "http_405"


# -- the OpenAPI document


V1_ERRORS = ("401", "403", "409", "413", "422", "503")
ERROR_BODIES = {
    ("post", "/v1/repositories"): (*V1_ERRORS, "400"),
    ("get", "/v1/repositories"): V1_ERRORS,
    ("get", "/v1/repositories/{repository}"): (*V1_ERRORS, "404"),
    ("delete", "/v1/repositories/{repository}"): (*V1_ERRORS, "400", "404"),
    ("get", "/v1/jobs"): V1_ERRORS,
    ("get", "/v1/jobs/{job_id}"): (*V1_ERRORS, "404"),
    ("delete", "/v1/jobs/{job_id}"): (*V1_ERRORS, "404"),
    ("post", "/v1/search"): (*V1_ERRORS, "400", "404", "429"),
    ("post", "/v1/ask"): (*V1_ERRORS, "400", "404", "429"),
    ("post", "/v1/chat/completions"): (*V1_ERRORS, "400", "404", "429"),
    ("get", "/v1/models"): V1_ERRORS,
    ("get", "/v1/models/{model}"): (*V1_ERRORS, "404"),
    ("get", "/healthz"): (),
    ("get", "/readyz"): (),
    ("get", "/metrics"): (),
    ("post", "/v1/webhooks/github"): ("400", "401", "404", "413", "422", "503"),
}
"""The error statuses each route declares with ErrorResponse (OpenAIErrorResponse on the OpenAI routes) as the body."""


async def test_openapi_declares_every_route_s_success_body_and_its_error_statuses(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    operations = {(method, path): op for path, ops in document["paths"].items() for method, op in ops.items()}

    assert set(operations) == set(ERROR_BODIES)
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for (method, path), operation in operations.items():
        model = "OpenAIErrorResponse" if path.startswith(("/v1/chat", "/v1/models")) else "ErrorResponse"
        responses = operation["responses"]
        success = [status for status in responses if status.startswith("2")]
        assert len(success) == (2 if path == WEBHOOK_PATH else 1), path  # a webhook's ping is a 200
        assert all(media.get("schema") for media in responses[success[0]]["content"].values()), path
        errors = {status for status, r in responses.items() if _schema(r) == {"$ref": f"#/components/schemas/{model}"}}
        assert errors == set(ERROR_BODIES[method, path]), path


async def test_openapi_lets_every_v1_call_send_an_api_key_as_bearer_or_header(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()

    schemes = document["components"]["securitySchemes"]
    assert schemes["HTTPBearer"] == {"type": "http", "scheme": "bearer", "description": ANY_TEXT}
    assert schemes["APIKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": ANY_TEXT}
    for path, operations in document["paths"].items():
        for operation in operations.values():
            keyed = path.startswith("/v1/") and path != WEBHOOK_PATH  # a webhook's signature is its key
            expected: object = [{"HTTPBearer": []}, {"APIKeyHeader": []}] if keyed else None
            assert operation.get("security") == expected, path


def _schema(response: dict[str, Any]) -> object:
    return response.get("content", {}).get("application/json", {}).get("schema")


async def test_openapi_declares_the_streamed_alternatives_and_the_other_bodies(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    for path, model in (("/v1/ask", "AnswerView"), ("/v1/chat/completions", "ChatCompletion")):
        content = paths[path]["post"]["responses"]["200"]["content"]
        assert content["application/json"]["schema"] == {"$ref": f"#/components/schemas/{model}"}
        assert "text/event-stream" in content
    assert paths["/v1/repositories"]["post"]["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/IndexAccepted"
    }
    readiness = {"$ref": "#/components/schemas/Readiness"}
    for status in ("200", "503"):
        assert paths["/readyz"]["get"]["responses"][status]["content"]["application/json"]["schema"] == readiness
    assert "text/plain" in paths["/metrics"]["get"]["responses"]["200"]["content"]


async def test_openapi_shows_the_retrieval_mode_as_an_enum_and_the_answer_s_new_fields(
    client: httpx.AsyncClient,
) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]

    assert schemas["RetrievalMode"]["enum"] == ["hybrid", "dense", "keyword"]
    for body in ("SearchBody", "AskBody"):
        assert {"$ref": "#/components/schemas/RetrievalMode"} in schemas[body]["properties"]["mode"]["anyOf"]
    assert {"search_query", "abstained"} <= set(schemas["AnswerView"]["required"])
    assert {"search_query", "abstained"} <= set(schemas["ChatCompletion"]["required"])
    assert "used" in schemas["CitationView"]["required"] and "used" not in schemas["HitView"]["properties"]
    assert schemas["SearchResponse"]["properties"]["mode"] == {"$ref": "#/components/schemas/RetrievalMode"} | {
        "description": ANY_TEXT
    }


async def test_openapi_describes_the_refs_of_searches_listings_forgetting_and_chats(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    schemas, paths = document["components"]["schemas"], document["paths"]

    assert "default branch" in schemas["SearchFilters"]["properties"]["ref"]["description"]
    view = schemas["RepositoryView"]
    assert "searched_by_default" in view["required"] and view["properties"]["searched_by_default"]["type"] == "boolean"
    assert "null for the default branch" in view["properties"]["ref"]["description"]
    forget = {p["name"]: p for p in paths["/v1/repositories/{repository}"]["delete"]["parameters"]}
    assert {"ref", "collection"} <= set(forget) and "default branch" in forget["ref"]["description"]
    chat_body = schemas["ChatCompletionRequest"]["properties"]
    assert all("extra_body" in chat_body[name]["description"] for name in ("repository", "ref", "mode"))


# -- GitHub webhooks

SECRET = "webhook-s3cret"
PUSH = {"ref": "refs/heads/main", "repository": {"full_name": "Owner/Repo", "default_branch": "main"}}


@pytest.fixture
def hooked(tmp_path: Path) -> Container:
    """A container with the webhook's secret and a small body limit."""
    return container_of(settings(data_dir=tmp_path, github_webhook_secret=SECRET, max_body_bytes=2000))


async def deliver(
    container: Container, event: str, body: bytes, signature: str | None = "", content_type: str = "application/json"
) -> httpx.Response:
    """POST a delivery as GitHub does; `signature` "" signs the body with the secret, None sends none."""
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": "d-1", "Content-Type": content_type}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature or signature_of(SECRET, body)
    transport = httpx.ASGITransport(app=create_app(container), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://repochat") as http:
        return await http.post(WEBHOOK_PATH, content=body, headers=headers)


def pushed(container: Container, *queued: QueuedSync) -> RecordingUseCase[PushSyncs]:
    fake = RecordingUseCase(PushSyncs(queued))
    use(container.sync_pushed_ref, fake)
    return fake


async def test_a_signed_push_queues_the_syncs_of_the_refs_it_moved(hooked: Container) -> None:
    job = replace(FINISHED_JOB, state=JobState.QUEUED, result=None)
    fake = pushed(hooked, QueuedSync(SyncKey("docs", "owner/repo"), job))

    response = await deliver(hooked, "push", json.dumps(PUSH).encode())

    assert response.status_code == 202, response.text
    assert fake.calls == [(Push("Owner/Repo", "refs/heads/main", "main"), "d-1")]
    assert response.json() == {
        "event": "push",
        "delivery": "d-1",
        "queued": [
            {"job_id": "job-1", "repository": "owner/repo", "collection": "docs", "ref": None, "state": "queued"}
        ],
        "message": "1 sync of refs/heads/main of Owner/Repo queued",
    }


async def test_a_push_to_a_ref_nothing_indexes_queues_nothing_and_says_so(hooked: Container) -> None:
    pushed(hooked)
    response = await deliver(hooked, "push", json.dumps(PUSH).encode())
    assert response.status_code == 202 and response.json()["queued"] == []
    assert response.json()["message"] == "nothing indexed follows refs/heads/main of Owner/Repo: nothing queued"


@pytest.mark.parametrize("signature", [None, "sha256=" + "0" * 64, signature_of("another secret", b"{}")])
async def test_a_delivery_without_the_secrets_signature_is_refused_and_queues_nothing(
    hooked: Container, signature: str | None
) -> None:
    fake = pushed(hooked)
    response = await deliver(hooked, "push", json.dumps(PUSH).encode(), signature)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated" and fake.calls == []


async def test_ping_answers_200_and_other_events_202_with_nothing_queued(hooked: Container) -> None:
    fake = pushed(hooked)
    ping = await deliver(hooked, "ping", b'{"zen": "Design for failure.", "hook_id": 1}')
    assert ping.status_code == 200 and ping.json()["message"].startswith("pong")
    issues = await deliver(hooked, "issues", b'{"action": "opened"}')
    assert issues.status_code == 202 and issues.json()["queued"] == [] and "nothing to sync" in issues.json()["message"]
    assert fake.calls == []


async def test_without_a_secret_the_webhook_route_is_off(container: Container) -> None:
    fake = pushed(container)
    response = await deliver(container, "push", json.dumps(PUSH).encode(), signature_of("", b""))
    assert response.status_code == 404 and "REPOCHAT_GITHUB_WEBHOOK_SECRET" in response.json()["error"]["message"]
    assert fake.calls == []


async def test_a_form_encoded_delivery_is_read_from_its_payload_field(hooked: Container) -> None:
    fake = pushed(hooked)
    body = urlencode({"payload": json.dumps(PUSH)}).encode()
    response = await deliver(hooked, "push", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 202 and len(fake.calls) == 1


async def test_a_payload_that_is_no_push_is_a_400(hooked: Container) -> None:
    fake = pushed(hooked)
    for body in (b"not json", b"[1]", b'{"ref": "refs/heads/main"}'):
        response = await deliver(hooked, "push", body)
        assert response.status_code == 400, body
    assert fake.calls == []


async def test_a_delivery_may_be_larger_than_other_bodies(hooked: Container) -> None:
    """GitHub sends up to 25 MB; REPOCHAT_MAX_BODY_BYTES (2000 here) still caps the other routes."""
    pushed(hooked)
    large = json.dumps(PUSH | {"commits": [{"message": "x" * 1000}] * 50}).encode()
    assert (await deliver(hooked, "push", large)).status_code == 202
    transport = httpx.ASGITransport(app=create_app(hooked), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://repochat") as http:
        assert (await http.post("/v1/search", content=large)).status_code == 413


# -- the lifespan


async def test_the_lifespan_runs_the_jobs_holds_the_data_folder_and_closes_all_at_the_end(
    container: Container, app: FastAPI, tmp_path: Path
) -> None:
    queue = RecordingJobQueue()
    use(container.inprocess_queue, queue)

    async with app.router.lifespan_context(app):
        assert queue.lifecycle == ["start"]
        assert container.data_dir_lock.initialized

    assert queue.lifecycle == ["start", "stop"]
    assert container.http_client().is_closed
    next_process = DataDirLock(tmp_path, "the next process")
    next_process.acquire()  # released: this does not raise DataDirBusy
    next_process.release()


def schedule_tasks() -> list[asyncio.Task[Any]]:
    return [task for task in asyncio.all_tasks() if task.get_name() == "repochat sync schedule" and not task.done()]


async def test_the_lifespan_runs_the_in_process_sync_schedule_when_an_interval_is_set(tmp_path: Path) -> None:
    for interval, schedules in ((None, 0), ("1h", 1)):
        container = container_of(settings(data_dir=tmp_path / str(interval), sync_interval=interval))
        use(container.inprocess_queue, RecordingJobQueue())
        app = create_app(container)
        async with app.router.lifespan_context(app):
            assert len(schedule_tasks()) == schedules
        assert schedule_tasks() == []
