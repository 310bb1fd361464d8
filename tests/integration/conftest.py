"""Fixtures of real services for integration tests: a Chroma server, the repochat API, the shared corpus.

The helpers they are built on (ports, polling, SSE, processes) are in helpers.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from chromadb.api import ClientAPI

from adapters.data_dir_lock import DataDirLock
from adapters.vectorstore.chroma_client import open_chroma_server, open_embedded_chroma
from tests.integration.helpers import BIN, ROOT, ApiServer, ServeFactory, free_port, repochat_env, stop, wait_for_http


@pytest.fixture(scope="session")
def corpus() -> Path:
    """FastAPI's English docs, from the shared folder beside the repository."""
    path = Path(os.environ.get("REPOCHAT_CORPUS", ROOT.parent / "shared" / "corpora" / "fastapi-docs"))
    if not path.is_dir():
        pytest.fail(f"the documentation corpus is missing at {path} (set REPOCHAT_CORPUS)")
    return path.resolve()  # repochat names a local folder by its real path


@pytest.fixture(scope="session")
def local_roots(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """REPOCHAT_LOCAL_ROOTS for servers that index local folders through the API: the corpus and every tmp_path."""
    return os.pathsep.join([str(corpus), str(tmp_path_factory.getbasetemp().resolve())])


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `chroma run` server on loopback."""
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    chroma = shutil.which("chroma") or str(BIN / "chroma")
    log = (path / "server.log").open("wb")
    process = subprocess.Popen(
        [chroma, "run", "--path", str(path / "data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/api/v2/heartbeat", process)
        yield url
    finally:
        stop(process)
        log.close()


@pytest.fixture(params=["embedded", "server"])
def chroma_client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ClientAPI]:
    """A Chroma client of each mode: embedded in a temporary data folder, and of the `chroma run` server."""
    if request.param == "embedded":
        lock = DataDirLock(tmp_path, "test")
        lock.acquire()
        yield open_embedded_chroma(tmp_path, lock)
        lock.release()
    else:
        yield open_chroma_server(request.getfixturevalue("chroma_server"))


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeFactory]:
    """Start `repochat serve` subprocesses on loopback, each answering /healthz; all are stopped after the test.

    `serve(data_dir=None, **env)`: the data folder defaults to one per test, `env` adds to `repochat_env`.
    """
    started: list[ApiServer] = []

    def start(data_dir: Path | None = None, **extra_env: str) -> ApiServer:
        env = repochat_env(data_dir or tmp_path / "data", **extra_env)
        server = ApiServer(env, tmp_path / f"serve-{len(started) + 1}.log")
        started.append(server)
        return server.wait_ready("/healthz")

    yield start
    for server in started:
        server.close()
