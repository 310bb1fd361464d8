"""Real services for integration tests: a Chroma server, the repochat API, the shared corpus."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_http(url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def corpus() -> Path:
    """FastAPI's English docs, from the shared folder beside the repository."""
    path = Path(os.environ.get("REPOCHAT_CORPUS", ROOT.parent / "shared" / "corpora" / "fastapi-docs"))
    if not path.is_dir():
        pytest.fail(f"the documentation corpus is missing at {path} (set REPOCHAT_CORPUS)")
    return path.resolve()  # repochat names a local folder by its real path


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


def repochat_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a repochat process: isolated data folder, no ambient keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPOCHAT_", "OPENAI_", "GITHUB_TOKEN"))}
    env.update(REPOCHAT_DATA_DIR=str(data_dir), REPOCHAT_EMBEDDINGS="hashing", HF_HUB_OFFLINE="1")
    env.update(extra)
    return env


def repochat(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    command = shutil.which("repochat", path=str(BIN)) or "repochat"
    return subprocess.run([command, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@dataclass
class ApiServer:
    url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def wait_for_job(self, job_id: str, timeout: float = 120) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job: dict[str, object] = self.client.get(f"/v1/jobs/{job_id}").json()
            if job["state"] in ("succeeded", "failed", "cancelled"):
                return job
            time.sleep(0.2)
        raise TimeoutError(f"job {job_id} did not finish: {job}")


ServeFactory = Callable[..., ApiServer]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeFactory]:
    """Start `repochat serve` subprocesses on loopback; all are stopped after the test."""
    started: list[ApiServer] = []

    def start(data_dir: Path | None = None, **extra_env: str) -> ApiServer:
        port = free_port()
        env = repochat_env(data_dir or tmp_path / "data", **extra_env)
        log = tmp_path / f"serve-{port}.log"
        command = shutil.which("repochat", path=str(BIN)) or "repochat"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [command, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=out, stderr=out
            )
        server = ApiServer(f"http://127.0.0.1:{port}", env, process, log)
        started.append(server)
        try:
            wait_for_http(f"{server.url}/healthz", process)
        except Exception as e:
            raise RuntimeError(f"repochat serve did not start: {log.read_text()[-2000:]}") from e
        return server

    yield start
    for server in started:
        server.client.close()
        stop(server.process)
