"""Faults as they happen, mid-index: the Chroma server dies, the Hatchet engine restarts, `repochat serve` is killed.

Each test starts what it breaks (a `chroma run` server, `repochat serve`, a worker) on loopback
and stops it afterwards; the embeddings come from the fake OpenAI server, whose injected
latency keeps a job running long enough to break something under it. The Hatchet test
restarts the shared dev engine (`scripts/hatchet-dev.sh restart`, PostgreSQL keeps running),
in a namespace of its own.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.cluster import (
    HATCHET_DEV,
    ChromaServer,
    WorkerProcess,
    hatchet_dev_env,
    job,
    private_namespace,
    submit,
    wait_for_progress,
)
from tests.integration.fake_openai import FakeOpenAI, slow
from tests.integration.helpers import ApiServer, ServeFactory, repochat_env, wait_until

EMBEDDINGS = "/v1/embeddings"
NEW_TEXT = "The quokka zanzibar paragraph of version two."
QUICK_TIMEOUT_WORKER = [
    sys.executable,
    "-c",
    "import sys; from dataclasses import replace; from datetime import timedelta; "
    "import adapters.queue.hatchet.workflows as workflows; "
    "workflows.BATCH_POLICY = replace(workflows.BATCH_POLICY, execution_timeout=timedelta(seconds=60)); "
    "from entrypoints.cli import main; sys.exit(main())",
]
"""`repochat` whose batch tasks time out after 60 s instead of 15 min.

A restart of hatchet-lite loses what the engine was doing at that moment: here the completion
of a batch that had just finished stayed unrecorded, so the engine held the batch as running
on the live worker until its execution timeout ended it and a retry ran it again."""


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def openai_env(fake_openai: FakeOpenAI, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Embeddings from the fake server (which starts each test without injected faults); the test's folder indexable."""
    fake_openai.reset()
    yield {
        **fake_openai.embeddings_env(),
        "REPOCHAT_LOCAL_ROOTS": str(tmp_path),
    }
    fake_openai.reset()


@pytest.fixture
def repo(corpus: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(corpus, tmp_path / "repo"))


def collection_name(name: str) -> str:
    return f"faults-{name}-{uuid.uuid4().hex[:8]}"


def add_latency(fake: FakeOpenAI, seconds: float) -> None:
    fake.fail_next(100_000, slow(seconds), path=EMBEDDINGS)


def write_version_two(repo: Path) -> None:
    for path in repo.rglob("*.md"):
        path.write_text(path.read_text() + f"\n\n{NEW_TEXT}\n")


def indexed_commit(api: ApiServer, repo: Path, collection: str) -> str:
    listed = api.client.get(f"/v1/repositories/local:{repo}").json()["collections"]
    commit: str = next(c["commit"] for c in listed if c["collection"] == collection)
    return commit


def search(api: ApiServer, collection: str) -> list[dict[str, Any]]:
    response = api.client.post("/v1/search", json={"query": "quokka zanzibar paragraph", "collection": collection})
    assert response.status_code == 200, response.text
    hits: list[dict[str, Any]] = response.json()["hits"]
    return hits


def shows_version_one(api: ApiServer, repo: Path, collection: str, commit: str) -> None:
    """Readers see the previous complete version: its commit, and none of version two's text."""
    assert indexed_commit(api, repo, collection) == commit
    hits = search(api, collection)
    assert hits and all(NEW_TEXT not in hit["text"] for hit in hits)


def shows_version_two(api: ApiServer, collection: str) -> None:
    assert any(NEW_TEXT in hit["text"] for hit in search(api, collection))


def readiness(api: ApiServer) -> httpx.Response:
    return api.client.get("/readyz")


def start_version_two(api: ApiServer, repo: Path, collection: str, fake_openai: FakeOpenAI) -> tuple[str, str]:
    """Indexes version one, then starts indexing version two with slow embeddings and waits until
    its first file is done: version one's commit and the running job's id."""
    first = api.wait_for_job(submit(api, repo, collection), timeout=180)
    assert first["state"] == "succeeded", first
    write_version_two(repo)
    add_latency(fake_openai, 0.3)
    job_id = submit(api, repo, collection)
    wait_for_progress(api, job_id, files_done=1)
    return first["result"]["commit"], job_id


# -- the Chroma server


def test_chroma_stopped_mid_index_fails_the_job_and_keeps_the_previous_version(
    serve: ServeFactory, openai_env: dict[str, str], fake_openai: FakeOpenAI, repo: Path, tmp_path: Path
) -> None:
    chroma = ChromaServer(tmp_path / "chroma").start()
    try:
        api = serve(REPOCHAT_CHROMA_URL=chroma.url, **openai_env)
        collection = collection_name("chroma")
        first_commit, second = start_version_two(api, repo, collection, fake_openai)

        chroma.stop(signal.SIGKILL)
        down = readiness(api)
        assert down.status_code == 503, down.text
        assert down.json()["checks"]["job_queue"] == "ok"
        assert "chroma" in down.json()["checks"]["vector_store"].lower(), down.text
        failed = api.wait_for_job(second, timeout=120)
        assert failed["state"] == "failed", failed
        assert "chroma" in failed["error"].lower() and "Traceback" not in failed["error"], failed["error"]

        chroma.start()  # same port, same data folder
        wait_until(lambda: readiness(api).status_code == 200, 60, "/readyz once Chroma is back")
        shows_version_one(api, repo, collection, first_commit)
        fake_openai.reset()
        again = api.wait_for_job(submit(api, repo, collection), timeout=180)
        assert again["state"] == "succeeded", again
        shows_version_two(api, collection)
    finally:
        chroma.stop()


# -- `repochat serve` itself


def test_serve_killed_mid_index_resumes_the_job_on_restart(
    serve: ServeFactory, openai_env: dict[str, str], fake_openai: FakeOpenAI, repo: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    api = serve(data_dir=data, **openai_env)
    collection = collection_name("serve")
    first_commit, job_id = start_version_two(api, repo, collection, fake_openai)

    api.stop(signal.SIGKILL)
    restarted = serve(data_dir=data, **openai_env)
    resumed = job(restarted, job_id)
    assert resumed["state"] in ("queued", "running"), resumed
    shows_version_one(restarted, repo, collection, first_commit)

    fake_openai.reset()
    done = restarted.wait_for_job(job_id, timeout=180)
    assert done["state"] == "succeeded", done
    shows_version_two(restarted, collection)


# -- the Hatchet engine


@pytest.mark.hatchet
def test_hatchet_engine_restarted_mid_job_the_job_finishes(
    serve: ServeFactory,
    openai_env: dict[str, str],
    fake_openai: FakeOpenAI,
    chroma_server: str,
    repo: Path,
    tmp_path: Path,
) -> None:
    env = {
        **hatchet_dev_env(),
        **private_namespace(),
        **openai_env,
        "REPOCHAT_JOB_QUEUE": "hatchet",
        "REPOCHAT_CHROMA_URL": chroma_server,
        "REPOCHAT_INDEX_FILES_PER_TASK": "8",
        "REPOCHAT_INDEX_JOBS_IN_PARALLEL": "2",
    }
    worker = WorkerProcess.start(
        repochat_env(tmp_path / "worker-data", **env), tmp_path / "worker.log", command=QUICK_TIMEOUT_WORKER
    )
    try:
        api = serve(**env)
        add_latency(fake_openai, 0.3)
        job_id = submit(api, repo, collection_name("engine"))
        wait_for_progress(api, job_id, files_done=8)

        started = time.monotonic()
        restart = subprocess.run(["bash", str(HATCHET_DEV), "restart"], capture_output=True, text=True, timeout=180)
        assert restart.returncode == 0, restart.stderr[-3000:]
        print(f"engine restarted in {time.monotonic() - started:.1f} s")

        fake_openai.reset()
        done = api.wait_for_job(job_id, timeout=300)
        assert done["state"] == "succeeded", done
        assert done["result"]["files_indexed"] == done["progress"]["files_total"]
        assert worker.process.poll() is None, worker.text()[-3000:]
    finally:
        worker.close()
