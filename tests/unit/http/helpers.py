"""What the tests of the HTTP API share: answers, jobs and hits as the use case fakes give them and as
the API shows them, and a container whose use cases all fail until a test puts in the fake it expects."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import httpx
from dependency_injector import providers
from fastapi import FastAPI
from starlette.types import Message

from application.answering import AskRequest, GeneratedAnswer
from application.ports.generation import GenerationEnd, TokenUsage
from domain.answers import Citation
from domain.citation_check import CheckSummary
from domain.documents import SkipCounts
from domain.jobs import IndexRequest, IndexResult, Job, JobState, Progress
from domain.sources import SourceKind, SourceSpec
from entrypoints.container import Container
from entrypoints.http.errors import ERROR_STATUS
from entrypoints.settings import Settings
from tests.unit.fakes import InMemoryKeyStore, InMemorySessionStore, RecordingUseCase

CITATION = Citation("docs/a.md", "owner/repo", "c0ffee", 3, 9, "https://github.com/owner/repo/blob/c0ffee/docs/a.md#L3-L9",
                    "Use a default of None.", 0.123456, 0.612345, None, used=True, supported=True,
                    reason="nothing to look up")  # fmt: skip


UNUSED = replace(
    CITATION, path="docs/b.md", url=CITATION.url.replace("a.md", "b.md"), used=False, supported=None, reason=""
)


UNSUPPORTED = replace(CITATION, path="docs/c.md", url=CITATION.url.replace("a.md", "c.md"), supported=False,
                      reason="`max_size` is not in [2]")  # fmt: skip


ANSWER = GeneratedAnswer(
    "Use a default of None [1].",
    (CITATION,),
    True,
    GenerationEnd(TokenUsage(120, 8)),
    "Defaults?",
    citation_check=CheckSummary(1, 1, 0, ()),
)


CHECKED_JSON = {"cited": 1, "supported": 1, "unsupported": 0, "invented": []}


NOT_CHECKED_JSON = {"cited": 0, "supported": 0, "unsupported": 0, "invented": []}


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


CITATION_JSON = HIT_JSON | {"used": True, "supported": True, "reason": "nothing to look up"}


UNUSED_JSON = CITATION_JSON | {"path": "docs/b.md", "url": UNUSED.url, "used": False, "supported": None, "reason": ""}


UNSUPPORTED_JSON = CITATION_JSON | {
    "path": "docs/c.md",
    "url": UNSUPPORTED.url,
    "supported": False,
    "reason": "`max_size` is not in [2]",
}


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
    """The embedded default, whatever the environment says; `repochat` (the tests' base URL) an allowed host."""
    defaults: dict[str, Any] = {
        "embeddings": "hashing", "job_queue": "inprocess", "chroma_url": None, "api_keys": None,
        "allowed_hosts": "repochat",
    }  # fmt: skip
    return Settings(**(defaults | values))


USE_CASES = ("submit_index_job", "list_repositories", "get_repository", "forget_repository", "list_jobs",
             "get_job", "cancel_job", "search", "answer_question", "sync_pushed_ref")  # fmt: skip


def container_of(settings: Settings) -> Container:
    """A container whose use cases all fail until a test puts in the fake it expects to be called."""
    container = Container(settings=settings)
    use(container.key_store, InMemoryKeyStore())
    use(container.sessions, InMemorySessionStore())
    for name in USE_CASES:
        use(getattr(container, name), RecordingUseCase[object](AssertionError(f"{name} was not expected")))
    return container


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


async def status_and_bytes_read(app: FastAPI, method: str, path: str, body_bytes: int) -> tuple[int, int]:
    """The status `app` answers a request of `body_bytes` of JSON with (`Content-Length` says so), and how many
    bytes of that body the app read to answer it."""
    read = 0

    async def receive() -> Message:
        nonlocal read
        read += 1024
        return {"type": "http.request", "body": b"{" * 1024, "more_body": read < body_bytes}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    headers = {"content-type": "application/json", "content-length": str(body_bytes)}
    await app(http_scope(method, path, headers), receive, send)
    return sent[0]["status"], read


def http_scope(method: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
    """The ASGI scope of an HTTP request to 127.0.0.1, for a test that sends the body message by message."""
    raw = [(b"host", b"127.0.0.1"), *((name.encode(), value.encode()) for name, value in headers.items())]
    return {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
            "headers": raw, "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 80)}  # fmt: skip
