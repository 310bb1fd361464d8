"""Who is calling: with keys (REPOCHAT_API_KEYS, or stored ones), /v1 and /mcp need one; the caller is
named in the request log (never its key) and refusals are counted by reason."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from application.ports.access import StoredKey
from domain.access import Role, Scope, key_hash
from domain.errors import UpstreamUnavailable
from domain.jobs import Job
from entrypoints.container import Container
from entrypoints.http.app import create_app
from tests.unit.fakes import InMemoryKeyStore, RecordingUseCase
from tests.unit.http.helpers import container_of, settings, status_and_bytes_read, use

TEAM_KEY = "rc_team-a-secret"


@pytest.fixture
def keyed_client(tmp_path: Path) -> tuple[Container, FastAPI]:
    container = container_of(settings(data_dir=tmp_path, api_keys="alpha, beta"))
    use(container.key_store, InMemoryKeyStore(StoredKey("team-a", Role.READ, Scope(("docs",)), key_hash(TEAM_KEY))))
    use(container.list_jobs, RecordingUseCase[list[Job]]([]))
    return container, create_app(container)


async def get(app: FastAPI, path: str, host: str = "repochat", **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}") as http:
        return await http.get(path, headers=headers)


@pytest.mark.parametrize(
    ("headers", "status", "code", "reason"),
    [
        ({}, 401, "unauthenticated", "missing_credentials"),
        ({"authorization": "Bearer gamma"}, 403, "forbidden", "unknown_key"),
        ({"x-api-key": "gamma"}, 403, "forbidden", "unknown_key"),
        ({"authorization": "Basic YWxwaGE6", "x-api-key": "alpha"}, 401, "unauthenticated", "malformed_credentials"),
        ({"authorization": "Bearer gamma", "x-api-key": "alpha"}, 403, "forbidden", "conflicting_keys"),
        ({"authorization": "Bearer beta", "x-api-key": "gamma"}, 403, "forbidden", "conflicting_keys"),
        ({"authorization": "Bearer beta", "x-api-key": "alpha"}, 403, "forbidden", "conflicting_keys"),
        ({"authorization": f"Bearer {TEAM_KEY[:-1]}"}, 403, "forbidden", "unknown_key"),
    ],
    ids=[
        "no key",
        "wrong bearer key",
        "wrong X-API-Key",
        "another scheme beside a good key",
        "a wrong bearer beside a good X-API-Key",
        "a wrong X-API-Key beside a good bearer",
        "two good keys, not the same",
        "a stored key but one character",
    ],
)
async def test_with_keys_a_call_without_an_accepted_key_is_refused_and_counted(
    keyed_client: tuple[Container, FastAPI], headers: dict[str, str], status: int, code: str, reason: str
) -> None:
    container, app = keyed_client
    response = await get(app, "/v1/jobs", **headers)

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert container.metrics().registry.get_sample_value("repochat_access_denied_total", {"reason": reason}) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": "Bearer beta"},
        {"x-api-key": "alpha"},
        {"authorization": "bearer beta", "x-api-key": "beta"},
        {"x-api-key": TEAM_KEY},
    ],
    ids=["bearer", "X-API-Key", "both, the same", "a stored key"],
)
async def test_an_accepted_key_is_let_through_and_health_needs_none(
    keyed_client: tuple[Container, FastAPI], headers: dict[str, str]
) -> None:
    _, app = keyed_client
    assert (await get(app, "/v1/jobs", **headers)).json() == {"jobs": []}
    assert (await get(app, "/healthz")).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/search"),
        ("POST", "/v1/answers"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/repositories"),
        ("POST", "/mcp"),
        ("DELETE", "/v1/keys/team-a"),
        ("POST", "/v1/no-such-route"),
    ],
)
async def test_a_call_without_a_key_is_refused_before_any_of_its_body_is_read(
    keyed_client: tuple[Container, FastAPI], method: str, path: str
) -> None:
    """A caller without a key costs the server neither the reading nor the parsing of a body (a 1 MiB body
    of JSON took 15 ms of the event loop to parse), and cannot learn which routes exist."""
    _, app = keyed_client
    status, bytes_read = await status_and_bytes_read(app, method, path, 1024 * 1024)

    assert status == 401
    assert bytes_read == 0


@pytest.mark.parametrize("body", [b"", b'{"query": "x"}'], ids=["no body", "a body"])
async def test_keys_that_cannot_be_read_are_a_503_and_a_refused_body_closes_the_connection(
    tmp_path: Path, body: bytes
) -> None:
    keys = InMemoryKeyStore()
    keys.failure = UpstreamUnavailable("Chroma failed to read the keys")
    container = container_of(settings(data_dir=tmp_path))
    use(container.key_store, keys)
    transport = httpx.ASGITransport(app=create_app(container), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        response = await http.post("/v1/search", content=body, headers={"authorization": "Bearer k"})

    assert response.status_code == 503, response.text
    assert response.json()["error"] == {"code": "upstream_unavailable", "message": "Chroma failed to read the keys"}
    assert response.headers.get("connection") == ("close" if body else None)


async def test_the_request_log_names_the_caller_never_its_key(
    keyed_client: tuple[Container, FastAPI], caplog: pytest.LogCaptureFixture
) -> None:
    _, app = keyed_client
    with caplog.at_level(logging.INFO, logger="repochat.requests"):
        await get(app, "/v1/jobs?limit=5", authorization=f"Bearer {TEAM_KEY}")
        await get(app, "/v1/jobs", authorization="Bearer alpha")
        await get(app, "/v1/jobs", authorization="Bearer not-a-key")

    lines = [record.getMessage() for record in caplog.records if record.name == "repochat.requests"]
    assert [line.split(" caller=")[1].split()[0] for line in lines] == ["key:team-a", "key:REPOCHAT_API_KEYS#1", "-"]
    assert lines[0].startswith("GET /v1/jobs 200 ")
    assert not [line for line in caplog.text.splitlines() if TEAM_KEY in line or "alpha" in line or "not-a-key" in line]


async def test_a_path_cannot_forge_a_line_of_the_request_log_nor_make_it_long(
    keyed_client: tuple[Container, FastAPI], caplog: pytest.LogCaptureFixture
) -> None:
    _, app = keyed_client
    forged = "/x%0A2026-12-07 INFO repochat.requests: DELETE /v1/keys/team-a 200 caller=key:REPOCHAT_API_KEYS%231"
    with caplog.at_level(logging.INFO, logger="repochat.requests"):
        await get(app, forged)
        await get(app, "/" + "a" * 20_000)

    lines = [record.getMessage() for record in caplog.records if record.name == "repochat.requests"]
    assert len(lines) == 2 and all("\n" not in line for line in lines)
    assert lines[0].startswith("GET /x\\n2026-12-07 INFO repochat.requests: DELETE")
    assert len(lines[1]) < 600


async def test_a_stored_key_makes_the_server_ask_for_keys_and_the_key_decides_not_the_host(tmp_path: Path) -> None:
    container = container_of(settings(data_dir=tmp_path, allowed_hosts=None))
    keys = InMemoryKeyStore()
    use(container.key_store, keys)
    use(container.list_jobs, RecordingUseCase[list[Job]]([]))
    app = create_app(container)
    assert (await get(app, "/v1/jobs", host="127.0.0.1")).json() == {"jobs": []}, "no keys: anyone local"
    placeholder = await get(app, "/v1/jobs", host="127.0.0.1", authorization="Bearer sk-placeholder")
    assert placeholder.status_code == 200, "an OpenAI client's placeholder key is taken as no key"
    basic = await get(app, "/v1/jobs", host="127.0.0.1", authorization="Basic YWxhZGRpbjpvcGVuc2VzYW1l")
    assert basic.status_code == 200, "a proxy's credentials are not the server's business without keys"
    assert (await get(app, "/v1/jobs", host="docs.example.com")).status_code == 421

    await container.create_key().execute("ops", Role.ADMIN)
    created = keys.keys["ops"]

    assert (await get(app, "/v1/jobs", host="127.0.0.1")).status_code == 401
    assert (await get(app, "/v1/jobs", host="docs.example.com")).status_code == 401
    assert created.key_hash not in (await get(app, "/v1/jobs", host="docs.example.com")).text
