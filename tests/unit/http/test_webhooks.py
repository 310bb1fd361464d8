"""GitHub's webhooks: signed pushes queue syncs of the refs they moved; the rest is refused or ignored."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from starlette.types import Message

from application.sync import PushSyncs, QueuedSync
from domain.jobs import JobState
from domain.sync import SyncKey
from domain.webhooks import Push, signature_of
from entrypoints.container import Container
from entrypoints.http.app import create_app
from entrypoints.http.middleware import WEBHOOK_PATH
from tests.unit.fakes import RecordingUseCase
from tests.unit.http.helpers import (
    FINISHED_JOB,
    container_of,
    http_scope,
    settings,
    use,
)

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


class CountedBody:
    """A request body sent in pieces, counting the pieces the app asked for."""

    def __init__(self, pieces: int, piece: bytes) -> None:
        self.pieces, self.piece, self.sent = pieces, piece, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.pieces):
            self.sent += 1
            yield self.piece


async def post_streamed(
    container: Container, body: CountedBody, signature: str = "sha256=" + "0" * 64
) -> httpx.Response:
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": signature}
    transport = httpx.ASGITransport(app=create_app(container), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://repochat") as http:
        return await http.post(WEBHOOK_PATH, content=body, headers=headers)


async def test_without_a_secret_no_byte_of_a_delivery_is_read(container: Container) -> None:
    body = CountedBody(100, b"x" * 65536)
    response = await post_streamed(container, body)
    assert response.status_code == 404 and body.sent <= 1


async def test_a_delivery_past_githubs_cap_is_a_413_once_the_cap_is_passed(hooked: Container) -> None:
    pushed(hooked)
    body = CountedBody(30, b"x" * 1024 * 1024)  # 30 MB, no Content-Length
    response = await post_streamed(hooked, body)
    assert response.status_code == 413 and "26214400 bytes" in response.json()["error"]["message"]
    assert body.sent == 26


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"ref": "refs/heads/\\ud800", "repository": {"full_name": "a/\\udfff"}}'],
    ids=["deeply nested", "a lone surrogate"],
)
async def test_a_signed_payload_that_is_no_json_of_valid_unicode_is_a_400(hooked: Container, body: bytes) -> None:
    fake = pushed(hooked)
    response = await deliver(hooked, "push", body)
    assert response.status_code == 400 and "not JSON" in response.json()["error"]["message"]
    assert fake.calls == []


async def test_a_delivery_without_a_signature_header_is_refused_unread(hooked: Container) -> None:
    body = CountedBody(100, b"x" * 65536)
    transport = httpx.ASGITransport(app=create_app(hooked), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://repochat") as http:
        response = await http.post(WEBHOOK_PATH, content=body, headers={"X-GitHub-Event": "push"})
    assert response.status_code == 401 and body.sent <= 1


async def test_a_delivery_broken_off_mid_body_is_no_error_of_the_server(
    hooked: Container, caplog: pytest.LogCaptureFixture
) -> None:
    """A sender that goes away mid-body logged a 10 KB traceback each time: a cheap way to fill a disk."""
    pushed(hooked)
    messages: list[Message] = [{"type": "http.request", "body": b"x" * 100, "more_body": True},
                               {"type": "http.disconnect"}]  # fmt: skip
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope = http_scope("POST", WEBHOOK_PATH, {"x-github-event": "push", "x-hub-signature-256": "sha256=00"})
    with caplog.at_level(logging.WARNING):
        await create_app(hooked)(scope, receive, send)

    assert sent[0]["status"] == 400
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
