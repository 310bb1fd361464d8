"""What integration tests (and benchmarks/) share: ports, polling, SSE, `repochat` processes.

Plain functions and classes, importable from anywhere; the pytest fixtures built on them
(`serve`, `chroma_server`, `corpus`) are in conftest.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import httpx

if TYPE_CHECKING:
    from hatchet_sdk import Hatchet

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
T = TypeVar("T")


# -- ports


def loopback_socket() -> socket.socket:
    """A TCP socket bound to a free 127.0.0.1 port, not listening (connections to it are refused)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def free_port() -> int:
    """A port free a moment ago, for a subprocess to listen on (another process may take it meanwhile)."""
    with loopback_socket() as sock:
        return int(sock.getsockname()[1])


# -- waiting for conditions


def wait_until(condition: Callable[[], T], timeout: float, message: str, interval: float = 0.2) -> T:
    """The first truthy value of `condition()`, polled every `interval` s; TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{message}: not within {timeout}s")
        time.sleep(interval)
    return value


async def await_until(condition: Callable[[], Awaitable[T]], seconds: float, message: str, interval: float = 0.05) -> T:
    """`wait_until` for async code: the first truthy value of `await condition()`; TimeoutError after `seconds`."""
    try:
        async with asyncio.timeout(seconds):
            while True:
                if value := await condition():
                    return value
                await asyncio.sleep(interval)
    except TimeoutError:
        raise TimeoutError(f"{message}: not within {seconds}s") from None


def assert_stays(condition: Callable[[], object], seconds: float, message: str, interval: float = 0.1) -> None:
    """Fail as soon as `condition()` is false, checking it for `seconds` s: for what must *not* happen."""
    deadline = time.monotonic() + seconds
    while True:
        assert condition(), message
        if time.monotonic() > deadline:
            return
        time.sleep(interval)


def wait_for_http(url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 60) -> None:
    """Until `url` answers with a status below 500; fails at once if `process` exits first."""

    def answers() -> bool:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            return httpx.get(url, timeout=2).status_code < 500
        except httpx.HTTPError:
            return False

    wait_until(answers, timeout, f"{url} answering")


def wait_for_workers(hatchet: Hatchet, names: set[str], timeout: float = 60) -> None:
    """Until the engine lists a worker of each name as active (with a heartbeat), so the scheduler may use it."""

    from hatchet_sdk.clients.rest.models.worker_status import WorkerStatus

    expected = {hatchet.config.apply_namespace(name) for name in names}  # as the SDK registers them
    seen: dict[str, str] = {}

    def active() -> bool:
        rows = [w for w in hatchet.workers.list().rows or [] if w.name in expected]
        seen.update({w.name: f"{w.status} heartbeat {w.last_heartbeat_at}" for w in rows})
        return expected <= {w.name for w in rows if w.status == WorkerStatus.ACTIVE and w.last_heartbeat_at}

    try:
        wait_until(active, timeout, f"Hatchet workers {sorted(expected)} active", interval=0.5)
    except TimeoutError as e:
        raise TimeoutError(f"{e}; the engine listed {seen}") from None


# -- Server-Sent Events


def sse_events(body: str) -> list[tuple[str, Any]]:
    """The (event name, JSON data) of each event of an SSE body; the name is "message" when the event has none."""
    events: list[tuple[str, Any]] = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            field, _, value = line.partition(":")
            if field == "event":
                name = value.removeprefix(" ")
            elif field == "data":
                data.append(value.removeprefix(" "))
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events


# -- processes


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20) -> int:
    """Send `sig` (SIGTERM: a graceful stop, as a process manager does), kill after `timeout` s; the exit code."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def unavailable(message: str) -> NoReturn:
    """A test whose tool or service is missing: skipped on a laptop, failed on CI (`CI=true`)."""
    import pytest  # only tests call it: benchmarks import this module without pytest

    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def repochat_command() -> str:
    return shutil.which("repochat", path=str(BIN)) or "repochat"


def repochat_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a repochat process: isolated data folder, no ambient repochat settings or API keys.

    HATCHET_CLIENT_* pass through: a HATCHET_CLIENT_NAMESPACE set for a test run keeps its tasks
    apart from another run's on a shared engine (the job queue is Hatchet only where a test says so).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPOCHAT_", "OPENAI_", "GITHUB_TOKEN"))}
    env.update(REPOCHAT_DATA_DIR=str(data_dir), REPOCHAT_EMBEDDINGS="hashing", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def repochat(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [repochat_command(), *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


class ApiServer:
    """`repochat serve` in a subprocess on a free loopback port, configured by environment variables only.

    A separate process, not a thread in the tests' one: langchain-openai keeps one cached async
    HTTP client per (base_url, timeout) for the whole process, so a server loop in the tests'
    process would share pooled connections with the tests' event loop. The process starts at
    once (its import takes seconds); `wait_ready()` waits for it to answer.
    """

    def __init__(self, env: dict[str, str], log: Path, cwd: Path = ROOT) -> None:
        self.env = env
        self.log = log
        self.cwd = cwd
        self.client = httpx.Client(timeout=30)
        self.port = 0
        self.process = self._launch()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _launch(self) -> subprocess.Popen[bytes]:
        self.port = free_port()
        self.client.base_url = httpx.URL(self.url)
        with self.log.open("ab") as out:
            return subprocess.Popen(
                [repochat_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, path: str = "/healthz", timeout: float = 60) -> ApiServer:
        """Until `path` answers 200; started again on another port if the chosen one was taken meanwhile."""
        restarts = 0

        def ready() -> bool:
            nonlocal restarts
            if self.process.poll() is not None:
                if "address already in use" not in self.output().lower() or restarts == 3:
                    raise RuntimeError(f"repochat serve exited with {self.process.returncode}:\n{self.output()}")
                restarts += 1
                self.process = self._launch()
            try:
                return httpx.get(self.url + path, timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        try:
            wait_until(ready, timeout, f"repochat serve answering {path}", interval=0.05)
        except TimeoutError as e:
            raise RuntimeError(f"{e}\n{self.output()}") from e
        return self

    def wait_for_job(self, job_id: str, timeout: float = 120) -> dict[str, Any]:
        """The job once it is finished (succeeded, failed or cancelled)."""
        seen: dict[str, Any] = {}

        def finished() -> bool:
            seen.update(self.client.get(f"/v1/jobs/{job_id}").json())
            return seen["state"] in ("succeeded", "failed", "cancelled")

        try:
            wait_until(finished, timeout, f"job {job_id} finishing", interval=0.05)
        except TimeoutError as e:
            raise TimeoutError(f"{e}; last seen: {seen}") from None
        return seen

    def output(self) -> str:
        """The end of what the server printed."""
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """SIGTERM by default: uvicorn stops gracefully and the lifespan closes the container. The exit code."""
        return stop(self.process, sig)

    def close(self) -> None:
        self.client.close()
        self.stop()


ServeFactory = Callable[..., ApiServer]
"""The `serve` fixture: `serve(data_dir=None, **env)` -> a started and answering ApiServer."""
