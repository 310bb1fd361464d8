"""The app from `create_app`, its use cases overridden by recording fakes, and a client that calls it in process.

httpx.ASGITransport does not run the lifespan, so nothing is opened unless a test opens it: the
fakes stand in for every use case a request reaches.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from entrypoints.container import Container
from entrypoints.http.app import create_app
from tests.unit.http.helpers import (
    container_of,
    settings,
)


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


@pytest.fixture
def limited(tmp_path: Path) -> FastAPI:
    return create_app(container_of(settings(data_dir=tmp_path, max_question_bytes=10, max_body_bytes=200)))
