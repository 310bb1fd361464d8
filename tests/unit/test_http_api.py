"""The HTTP API in process: the real app from `create_app`, its use cases overridden by recording fakes.

httpx.ASGITransport does not run the lifespan, so nothing is opened unless a test opens it: the
fakes stand in for every use case a request reaches.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dependency_injector import providers
from fastapi import FastAPI

from adapters.data_dir_lock import DataDirLock
from application.answering import AskRequest, CitationsEvent, TokenEvent
from application.search import SearchRequest
from domain.answers import Answer, ChatTurn, Citation, SearchHit
from domain.documents import Chunk, SkipCounts
from domain.errors import RepochatError, UpstreamUnavailable
from domain.jobs import IndexRequest, IndexResult, Job, JobState, Progress
from domain.sources import SourceKind, SourceSpec
from entrypoints.api import ERROR_STATUS, create_app
from entrypoints.container import Container
from entrypoints.settings import Settings
from tests.unit.fakes import RecordingJobQueue, RecordingUseCase, ScriptedAnswerStream

CITATION = Citation("docs/a.md", "owner/repo", "c0ffee", 3, 9, "https://github.com/owner/repo/blob/c0ffee/docs/a.md#L3-L9",
                    "Use a default of None.", 0.123456)  # fmt: skip
ANSWER = Answer("Use a default of None [1].", (CITATION,), generated=True)
CITATION_JSON = {
    "text": "Use a default of None.",
    "path": "docs/a.md",
    "repository": "owner/repo",
    "commit": "c0ffee",
    "start_line": 3,
    "end_line": 9,
    "url": "https://github.com/owner/repo/blob/c0ffee/docs/a.md#L3-L9",
    "score": 0.1235,
}
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
             "get_job", "cancel_job", "search", "answer_question", "stream_answer")  # fmt: skip


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


def asked(fake: RecordingUseCase[Answer]) -> AskRequest:
    (request,) = fake.calls[-1]
    assert isinstance(request, AskRequest)
    return request


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


async def test_a_job_is_shown_with_its_progress_and_result(container: Container, client: httpx.AsyncClient) -> None:
    get = RecordingUseCase(FINISHED_JOB)
    use(container.get_job, get)

    job = (await client.get("/v1/jobs/job-1")).json()

    assert get.calls == [("job-1",)]
    assert job == {
        "id": "job-1",
        "repository": "owner/repo",
        "collection": "docs",
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
        },
        "error": None,
        "created_at": "2026-01-01T00:00:00+00:00",
        "updated_at": "2026-01-01T00:00:05+00:00",
    }


async def test_search_passes_the_query_and_filters_and_answers_hits(
    container: Container, client: httpx.AsyncClient
) -> None:
    chunk = Chunk("id", "owner/repo", "docs/a.md", "blob", "c0ffee", 0, CITATION.text, 3, 9, url=CITATION.url)
    search = RecordingUseCase([SearchHit(chunk, 0.123456)])
    use(container.search, search)

    body = {"query": "defaults", "k": 3, "collection": "docs", "filters": {"repository": "owner/repo"}}
    response = await client.post("/v1/search", json=body)

    assert search.calls == [(SearchRequest("defaults", 3, "docs", "owner/repo"),)]
    assert response.json() == {"hits": [CITATION_JSON]}


async def test_ask_answers_with_citations(container: Container, client: httpx.AsyncClient) -> None:
    answer = RecordingUseCase(ANSWER)
    use(container.answer_question, answer)

    body = {"question": "Defaults?", "history": [{"role": "user", "content": "Hi"}], "k": 2}
    response = await client.post("/v1/ask", json=body)

    assert response.json() == {"answer": ANSWER.text, "generated": True, "citations": [CITATION_JSON]}
    assert asked(answer) == AskRequest("Defaults?", (ChatTurn("user", "Hi"),), "default", 2)


async def test_a_streamed_answer_is_tokens_then_citations_then_done(
    container: Container, client: httpx.AsyncClient
) -> None:
    use(
        container.stream_answer,
        ScriptedAnswerStream([TokenEvent("Use "), TokenEvent("None."), CitationsEvent((CITATION,), True)]),
    )

    response = await client.post("/v1/ask", json={"question": "Defaults?", "stream": True})

    assert response.headers["content-type"].startswith("text/event-stream")
    assert sse(response) == [
        ("token", {"text": "Use "}),
        ("token", {"text": "None."}),
        ("citations", {"citations": [CITATION_JSON], "generated": True}),
        ("done", {}),
    ]


async def test_a_stream_that_fails_before_its_first_token_is_an_error_status(
    container: Container, client: httpx.AsyncClient
) -> None:
    use(container.stream_answer, ScriptedAnswerStream([], UpstreamUnavailable("Chroma is down")))

    response = await client.post("/v1/ask", json={"question": "Defaults?", "stream": True})

    assert response.status_code == 503
    assert response.json()["error"] == {"code": "upstream_unavailable", "message": "Chroma is down"}


async def test_a_stream_that_fails_midway_ends_with_an_error_event(
    container: Container, client: httpx.AsyncClient
) -> None:
    use(container.stream_answer, ScriptedAnswerStream([TokenEvent("Use ")], UpstreamUnavailable("OpenAI is down")))

    response = await client.post("/v1/ask", json={"question": "Defaults?", "stream": True})

    assert sse(response)[-1] == ("error", {"error": {"code": "upstream_unavailable", "message": "OpenAI is down"}})


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
def answer_question(container: Container) -> RecordingUseCase[Answer]:
    fake = RecordingUseCase(ANSWER)
    use(container.answer_question, fake)
    return fake


async def test_chat_model_repochat_asks_the_default_collection(
    client: httpx.AsyncClient, answer_question: RecordingUseCase[Answer]
) -> None:
    response = await client.post("/v1/chat/completions", json=chat({"role": "user", "content": "Defaults?"}))

    assert asked(answer_question) == AskRequest("Defaults?", (), "default")
    completion = response.json()
    assert completion["object"] == "chat.completion" and completion["model"] == "repochat"
    (choice,) = completion["choices"]
    assert choice["message"] == {"role": "assistant", "content": f"{ANSWER.text}\n\nSources:\n[1] {CITATION.url}"}
    assert choice["finish_reason"] == "stop"


async def test_chat_model_names_the_collection_after_the_colon(
    client: httpx.AsyncClient, answer_question: RecordingUseCase[Answer]
) -> None:
    await client.post("/v1/chat/completions", json=chat({"role": "user", "content": "Hi"}, model="repochat:docs"))

    assert asked(answer_question).collection == "docs"


async def test_chat_asks_the_last_user_message_with_the_earlier_turns_as_history(
    client: httpx.AsyncClient, answer_question: RecordingUseCase[Answer]
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
    client: httpx.AsyncClient, answer_question: RecordingUseCase[Answer]
) -> None:
    parts = [
        {"type": "text", "text": "How do I "},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "text", "text": "add a default?"},
    ]
    await client.post("/v1/chat/completions", json=chat({"role": "user", "content": parts}))

    assert asked(answer_question).question == "How do I add a default?"


async def test_chat_whose_last_message_is_not_from_the_user_is_a_400(
    client: httpx.AsyncClient, answer_question: RecordingUseCase[Answer]
) -> None:
    body = chat({"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"})
    response = await client.post("/v1/chat/completions", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"
    assert answer_question.calls == []


async def test_a_streamed_chat_is_chunks_then_done(container: Container, client: httpx.AsyncClient) -> None:
    use(container.stream_answer, ScriptedAnswerStream([TokenEvent("Use None."), CitationsEvent((CITATION,), True)]))

    response = await client.post("/v1/chat/completions", json=chat({"role": "user", "content": "Hi"}, stream=True))

    lines = [line.removeprefix("data: ") for line in response.text.split("\n\n") if line]
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"content": "Use None."},
        {"content": f"\n\nSources:\n[1] {CITATION.url}"},
        {},
    ]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, None, "stop"]


# -- the OpenAPI document


V1_ERRORS = ("401", "403", "409", "422", "503")
ERROR_BODIES = {
    ("post", "/v1/repositories"): (*V1_ERRORS, "400"),
    ("get", "/v1/repositories"): V1_ERRORS,
    ("get", "/v1/repositories/{repository}"): (*V1_ERRORS, "404"),
    ("delete", "/v1/repositories/{repository}"): (*V1_ERRORS, "404"),
    ("get", "/v1/jobs"): V1_ERRORS,
    ("get", "/v1/jobs/{job_id}"): (*V1_ERRORS, "404"),
    ("delete", "/v1/jobs/{job_id}"): (*V1_ERRORS, "404"),
    ("post", "/v1/search"): (*V1_ERRORS, "400", "429"),
    ("post", "/v1/ask"): (*V1_ERRORS, "400", "429"),
    ("post", "/v1/chat/completions"): (*V1_ERRORS, "400", "429"),
    ("get", "/healthz"): (),
    ("get", "/readyz"): (),
    ("get", "/metrics"): (),
}
"""The error statuses each route declares with ErrorResponse as the body."""


async def test_openapi_declares_every_route_s_success_body_and_its_error_statuses(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    operations = {(method, path): op for path, ops in document["paths"].items() for method, op in ops.items()}
    error_response = {"$ref": "#/components/schemas/ErrorResponse"}

    assert set(operations) == set(ERROR_BODIES)
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for key, operation in operations.items():
        responses = operation["responses"]
        success = [status for status in responses if status.startswith("2")]
        assert len(success) == 1, key
        assert all(media.get("schema") for media in responses[success[0]]["content"].values()), key
        errors = {status for status, response in responses.items() if _schema(response) == error_response}
        assert errors == set(ERROR_BODIES[key]), key


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
