"""API keys: with REPOCHAT_API_KEYS set, /v1 needs one of them; health needs none."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from domain.jobs import Job
from entrypoints.container import Container
from entrypoints.http.app import create_app
from tests.unit.fakes import RecordingUseCase
from tests.unit.http.helpers import (
    container_of,
    settings,
    use,
)


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
        ({"authorization": "Basic YWxwaGE6", "x-api-key": "alpha"}, 401, "unauthenticated"),
        ({"authorization": "Bearer gamma", "x-api-key": "alpha"}, 403, "forbidden"),
        ({"authorization": "Bearer beta", "x-api-key": "gamma"}, 403, "forbidden"),
    ],
    ids=[
        "no key",
        "wrong bearer key",
        "wrong X-API-Key",
        "another scheme beside a good key",
        "a wrong bearer beside a good X-API-Key",
        "a wrong X-API-Key beside a good bearer",
    ],
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
    "headers",
    [{"authorization": "Bearer beta"}, {"x-api-key": "alpha"}, {"authorization": "bearer beta", "x-api-key": "alpha"}],
    ids=["bearer", "X-API-Key", "both"],
)
async def test_an_accepted_key_is_let_through_and_health_needs_none(
    keyed_client: tuple[Container, FastAPI], headers: dict[str, str]
) -> None:
    _, app = keyed_client
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://repochat") as http:
        assert (await http.get("/v1/jobs", headers=headers)).json() == {"jobs": []}
        assert (await http.get("/healthz")).status_code == 200
