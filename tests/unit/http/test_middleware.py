"""Middleware: the body limit, declared or streamed, reading nothing itself; the host and origin check;
the security headers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from entrypoints.http.app import create_app
from entrypoints.http.errors import BodyTooSlow
from entrypoints.http.middleware import BodyLimit
from tests.unit.http.helpers import container_of, http_scope, settings, status_and_bytes_read


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


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("POST", "/nothing", 404), ("POST", "/healthz", 405), ("PUT", "/static/app.js", 405), ("POST", "/", 405)],
)
async def test_a_body_no_route_reads_is_never_read(loopback_only: FastAPI, method: str, path: str, status: int) -> None:
    """The limit counts what a route reads, and reads nothing itself: a body under the limit sent to a path
    that takes none is not held in memory while the answer is made."""
    assert await status_and_bytes_read(loopback_only, method, path, 512 * 1024) == (status, 0)


async def test_a_body_trickled_past_its_whole_deadline_is_a_408_though_no_pause_is_long() -> None:
    """A byte every few seconds, never 10 s apart, held a request for days."""

    async def reads_its_body(_scope: Scope, receive: Receive, _send: Send) -> None:
        while (await receive()).get("more_body"):
            pass

    async def trickle() -> Message:
        await asyncio.sleep(0.02)
        return {"type": "http.request", "body": b"x", "more_body": True}

    limit = BodyLimit(reads_its_body, max_bytes=1_000_000, own_limits={}, idle_seconds=0.1, whole_seconds=0.3)
    started = asyncio.get_running_loop().time()
    with pytest.raises(BodyTooSlow):
        await limit(http_scope("POST", "/v1/search", {"content-length": "1000"}), trickle, _ignore)
    assert 0.3 <= asyncio.get_running_loop().time() - started < 1


async def _ignore(_message: Message) -> None:
    """What the app sends: it sends nothing."""


async def call(app: FastAPI, method: str, path: str, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
        return await http.request(method, path, headers=headers)


@pytest.fixture
def loopback_only(tmp_path: Path) -> FastAPI:
    """No API keys, no REPOCHAT_ALLOWED_HOSTS: loopback names only."""
    return create_app(container_of(settings(data_dir=tmp_path, allowed_hosts=None)))


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/jobs"), ("DELETE", "/v1/repositories/acme/widgets"), ("POST", "/v1/search"), ("GET", "/"),
     ("GET", "/static/app.js"), ("GET", "/openapi.json"), ("GET", "/metrics"), ("POST", "/mcp"),
     ("POST", "/v1/webhooks/github")],
)  # fmt: skip
async def test_without_keys_a_foreign_host_is_refused_on_every_route(
    loopback_only: FastAPI, method: str, path: str
) -> None:
    """A page of evil.example that rebinds its name to 127.0.0.1 sends `Host: evil.example`."""
    response = await call(loopback_only, method, path, host="evil.example")
    assert response.status_code == 421, response.text
    assert "REPOCHAT_ALLOWED_HOSTS" in response.json()["error"]["message"]


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "LOCALHOST", "[::1]:8000", "localhost."])
async def test_loopback_names_are_answered(loopback_only: FastAPI, host: str) -> None:
    assert (await call(loopback_only, "GET", "/static/app.js", host=host)).status_code == 200


async def test_a_page_of_another_origin_is_refused(loopback_only: FastAPI) -> None:
    refused = await call(loopback_only, "GET", "/static/app.js", origin="http://evil.example")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden_origin"
    assert (await call(loopback_only, "GET", "/static/app.js", origin="null")).status_code == 403
    assert (await call(loopback_only, "GET", "/static/app.js", origin="http://localhost:8000")).status_code == 200


async def test_probes_answer_any_host(loopback_only: FastAPI) -> None:
    assert (await call(loopback_only, "GET", "/healthz", host="10.1.2.3:8000")).status_code == 200


async def test_allowed_hosts_add_names_and_a_star_allows_any(tmp_path: Path) -> None:
    named = create_app(container_of(settings(data_dir=tmp_path, allowed_hosts="docs.example.com, intra")))
    assert (await call(named, "GET", "/static/app.js", host="docs.example.com")).status_code == 200
    assert (await call(named, "GET", "/static/app.js", host="intra:8000")).status_code == 200
    assert (await call(named, "GET", "/static/app.js", host="evil.example")).status_code == 421
    anyone = create_app(container_of(settings(data_dir=tmp_path, allowed_hosts="*")))
    assert (await call(anyone, "GET", "/static/app.js", host="evil.example")).status_code == 200


async def test_with_api_keys_the_key_decides_not_the_host(tmp_path: Path) -> None:
    keyed = create_app(container_of(settings(data_dir=tmp_path, allowed_hosts=None, api_keys="k1")))
    assert (await call(keyed, "GET", "/v1/jobs", host="docs.example.com")).status_code == 401


@pytest.mark.parametrize(
    ("path", "policy"),
    [("/", "script-src 'self'"), ("/static/app.js", "script-src 'self'"), ("/openapi.json", "default-src 'none'"),
     ("/v1/nope", "default-src 'none'"), ("/docs", "frame-ancestors 'none'")],
)  # fmt: skip
async def test_every_answer_carries_the_security_headers(client: httpx.AsyncClient, path: str, policy: str) -> None:
    response = await client.get(path)
    csp = response.headers["content-security-policy"]
    assert policy in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
