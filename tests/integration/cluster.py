"""What tests of a cluster's faults share: the dev engine's settings, `repochat worker` processes, Chroma's ids.

Plain functions and classes like helpers.py's; the engine itself is scripts/hatchet-dev.sh's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import chromadb

from tests.integration.helpers import (
    BIN,
    ROOT,
    ApiServer,
    free_port,
    repochat_command,
    stop,
    unavailable,
    wait_for_http,
    wait_until,
)

HATCHET_DEV = ROOT / "scripts" / "hatchet-dev.sh"
WORKER_READY = "waiting for tasks"


def hatchet_dev_env() -> dict[str, str]:
    """The HATCHET_CLIENT_* settings of the running dev engine; skips the test without one (fails it on CI)."""
    result = subprocess.run(["bash", str(HATCHET_DEV), "env"], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        message = f"no Hatchet engine (run scripts/hatchet-dev.sh up): {result.stderr.strip()}"
        unavailable(message)
    lines = [line.removeprefix("export ") for line in result.stdout.splitlines() if line.startswith("export ")]
    return dict(line.split("=", 1) for line in lines)


def private_namespace() -> dict[str, str]:
    """A HATCHET_CLIENT_NAMESPACE of its own, so that workers of other test runs on the engine never take these tasks.

    The SDK prefixes workflow and worker names with it; API and workers of one test must share it.
    """
    return {"HATCHET_CLIENT_NAMESPACE": f"t{uuid.uuid4().hex[:10]}"}


@dataclass
class WorkerProcess:
    """`repochat worker` in a process group of its own, so that `close` can leave nothing of it behind."""

    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(
        cls, env: dict[str, str], log: Path, slots: int = 3, command: Sequence[str] | None = None
    ) -> WorkerProcess:
        """Started and waiting for tasks; `env` is the whole environment (see `repochat_env`).

        `command` runs instead of `repochat` (it is given the same arguments).
        """
        name = f"repochat-test-{uuid.uuid4().hex[:8]}"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*(command or [repochat_command()]), "worker", "--slots", str(slots), "--name", name],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )
        worker = cls(process, log)
        wait_until(lambda: WORKER_READY in worker.text() or process.poll() is not None, 90, "worker start")
        assert process.poll() is None, worker.text()[-3000:]
        return worker

    @property
    def pid(self) -> int:
        return self.process.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def children(self) -> list[int]:
        """The pids of the worker's child processes (the SDK's listener, multiprocessing's resource tracker)."""
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def close(self) -> None:
        """SIGTERM (graceful) first; whatever is left of the process group after 20 s is killed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait(timeout=10)


def is_gone(pid: int) -> bool:
    """Whether process `pid` has ended (a zombie nobody has reaped yet counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def chunk_ids(chroma_url: str, collection: str) -> set[str]:
    """The ids of a collection's chunks, straight from the Chroma server, not through repochat."""
    url = urlparse(chroma_url)
    client = chromadb.HttpClient(host=url.hostname or "127.0.0.1", port=url.port or 8000)
    ids = client.get_collection(collection).get(include=[])["ids"]
    assert len(ids) == len(set(ids))
    return set(ids)


class ChromaServer:
    """A `chroma run` server on loopback that a test stops and starts again, on the same port and data folder."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ChromaServer:
        chroma = shutil.which("chroma") or str(BIN / "chroma")
        with (self.folder / "chroma.log").open("ab") as out:
            self.process = subprocess.Popen(
                [chroma, "run", "--path", str(self.folder / "data"), "--host", "127.0.0.1", "--port", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for_http(f"{self.url}/api/v2/heartbeat", self.process)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None:
            stop(self.process, sig)


def submit(api: ApiServer, source: Path, collection: str) -> str:
    """Queue an index job of `source` into `collection` through the API; its id."""
    response = api.client.post("/v1/repositories", json={"source": str(source), "collection": collection})
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def job(api: ApiServer, job_id: str) -> dict[str, Any]:
    response = api.client.get(f"/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def wait_for_progress(api: ApiServer, job_id: str, files_done: int, timeout: float = 120) -> dict[str, Any]:
    """The job once at least `files_done` of its files are indexed, while it still runs."""

    def reached() -> dict[str, Any]:
        seen = job(api, job_id)
        assert seen["state"] in ("queued", "running"), seen
        return seen if seen["progress"]["files_done"] >= files_done else {}

    return wait_until(reached, timeout, f"job {job_id} indexing {files_done} files")
