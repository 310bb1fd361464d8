"""A `repochat worker` killed with SIGKILL, as the kernel's OOM killer does: its tasks go to another worker.

SIGKILL reaches the worker's main process only, not its process group. Without the guard of
entrypoints/worker_processes.py the Hatchet SDK's listener child lived on and kept the dead
worker's heartbeat going, so its tasks were never handed over. Needs the engine of
`scripts/hatchet-dev.sh up` (skipped without it, failed on CI); the test has a Hatchet
namespace of its own, so that workers of other test runs on the same engine cannot take its tasks.
"""

from __future__ import annotations

import os
import re
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.integration.cluster import (
    WorkerProcess,
    chunk_ids,
    hatchet_dev_env,
    is_gone,
    job,
    private_namespace,
    submit,
)
from tests.integration.fake_openai import FakeOpenAI, slow
from tests.integration.helpers import ServeFactory, repochat_env, wait_until

pytestmark = pytest.mark.hatchet

FILES_PER_TASK = 8
EMBEDDING_LATENCY = 0.5
"""Seconds per embedding request, so that the job still runs when a worker is killed."""
HAND_OVER_TIMEOUT = 150
"""The engine reassigns tasks of a worker without a heartbeat for 30 s, checking every 1 to 30 s."""


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def cluster_env(chroma_server: str, fake_openai: FakeOpenAI, corpus: Path) -> dict[str, str]:
    """What the API and the workers of one test share: the engine (in a namespace of the test's), Chroma, embeddings."""
    return {
        **hatchet_dev_env(),
        **private_namespace(),
        "REPOCHAT_JOB_QUEUE": "hatchet",
        "REPOCHAT_CHROMA_URL": chroma_server,
        **fake_openai.embeddings_env(),
        "REPOCHAT_INDEX_FILES_PER_TASK": str(FILES_PER_TASK),
        "REPOCHAT_INDEX_JOBS_IN_PARALLEL": "2",
        "REPOCHAT_LOCAL_ROOTS": str(corpus),
    }


@pytest.fixture
def workers(tmp_path: Path, cluster_env: dict[str, str]) -> Iterator[list[WorkerProcess]]:
    """Two workers of the test's namespace, closed (and their process groups killed) after it."""
    env = repochat_env(tmp_path / "worker-data", **cluster_env)
    started: list[WorkerProcess] = []
    try:
        for n in (1, 2):
            started.append(WorkerProcess.start(env, tmp_path / f"worker-{n}.log"))
        yield started
    finally:
        for worker in started:
            worker.close()


def runs_parent(worker: WorkerProcess, job_id: str) -> bool:
    return "indexing " in _lines_of(worker, job_id)


def running_batches(worker: WorkerProcess, job_id: str) -> set[str]:
    """The numbers of the job's batches the worker has started and not finished."""
    lines = _lines_of(worker, job_id)
    started = set(re.findall(r"batch (\d+) of \d+: ", lines))
    return started - set(re.findall(r"batch (\d+) of \d+ done:", lines))


def _lines_of(worker: WorkerProcess, job_id: str) -> str:
    return "\n".join(line for line in worker.text().splitlines() if f"job={job_id} " in line)


def first_parent_run_after(worker: WorkerProcess, job_id: str, moment: datetime) -> datetime | None:
    """When the worker started the job's parent task after `moment` (log times are local)."""
    for line in _lines_of(worker, job_id).splitlines():
        logged = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
        if "indexing " in line and logged > moment:
            return logged
    return None


def test_a_worker_killed_with_sigkill_hands_its_tasks_over(
    serve: ServeFactory,
    cluster_env: dict[str, str],
    workers: list[WorkerProcess],
    corpus: Path,
    chroma_server: str,
    fake_openai: FakeOpenAI,
) -> None:
    api = serve(**cluster_env)
    reference = f"crash-reference-{uuid.uuid4().hex[:8]}"
    undisturbed = api.wait_for_job(submit(api, corpus, reference), timeout=180)
    assert undisturbed["state"] == "succeeded", undisturbed

    fake_openai.fail_next(100_000, slow(EMBEDDING_LATENCY), path="/v1/embeddings")
    collection = f"crash-killed-{uuid.uuid4().hex[:8]}"
    job_id = submit(api, corpus, collection)
    wait_until(lambda: any(runs_parent(w, job_id) for w in workers), 60, "the job's parent task starting")
    victim, survivor = sorted(workers, key=lambda w: not runs_parent(w, job_id))
    wait_until(lambda: running_batches(victim, job_id), 60, "a batch running on the worker of the parent task")
    at_kill = job(api, job_id)
    assert at_kill["state"] == "running" and at_kill["progress"]["files_done"] < at_kill["progress"]["files_total"]

    children = victim.children()
    assert children, "the SDK's listener process"
    killed_at, started = datetime.now(), time.monotonic()
    os.kill(victim.pid, signal.SIGKILL)  # the main process only, as the OOM killer does
    victim.process.wait(timeout=10)
    wait_until(lambda: all(map(is_gone, children)), 15, "the killed worker's child processes ending with it")

    finished = api.wait_for_job(job_id, timeout=HAND_OVER_TIMEOUT + 120)
    took = time.monotonic() - started
    assert finished["state"] == "succeeded", finished
    resumed = first_parent_run_after(survivor, job_id, killed_at)
    assert resumed is not None, "the surviving worker ran the job's parent task again"
    hand_over = (resumed - killed_at).total_seconds()
    print(f"hand-over after SIGKILL: {hand_over:.1f} s; job finished {took:.1f} s after the kill")
    assert hand_over < HAND_OVER_TIMEOUT

    assert chunk_ids(chroma_server, collection) == chunk_ids(chroma_server, reference)
    assert finished["result"]["files_indexed"] == undisturbed["result"]["files_indexed"]
