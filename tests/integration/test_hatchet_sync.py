"""The sync schedule on a real Hatchet engine: the cron-triggered `repochat-sync` task run by real workers.

Needs the engine of `scripts/hatchet-dev.sh up`; without it the test is skipped locally and fails
on CI (cluster.hatchet_dev_env). The interval is the shortest a cron expression says, one minute,
so the test waits for ticks. It has a namespace, a Chroma server and a GitHub-shaped server of its
own: the schedule syncs every indexed ref of its Chroma, and must meet no other test's.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hatchet_sdk import Hatchet, V1TaskStatus

from tests.integration.cluster import ChromaServer, WorkerProcess, hatchet_dev_env, private_namespace
from tests.integration.fake_github import FakeGitHub
from tests.integration.helpers import ApiServer, ServeFactory, repochat_env, wait_until

pytestmark = pytest.mark.hatchet

SYNC_TASK = "repochat-sync"
FILES = {"README.md": "# Widgets\n\nA library.\n", "docs/setup.md": "# Setup\n\nInstall the widget with pip.\n"}


@pytest.fixture
def engine() -> dict[str, str]:
    return {**hatchet_dev_env(), **private_namespace()}


@pytest.fixture
def hatchet(engine: dict[str, str]) -> Hatchet:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in engine.items():
            patch.setenv(name, value)
        return Hatchet()  # the SDK reads its configuration once, here


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[FakeGitHub]:
    with FakeGitHub(tmp_path / "git") as server:
        yield server


@pytest.fixture
def cluster_env(engine: dict[str, str], tmp_path: Path, gh: FakeGitHub) -> Iterator[dict[str, str]]:
    chroma = ChromaServer(tmp_path / "chroma").start()
    yield {
        **engine,
        "REPOCHAT_JOB_QUEUE": "hatchet",
        "REPOCHAT_CHROMA_URL": chroma.url,
        "REPOCHAT_GITHUB_API_URL": gh.api_url,
        "REPOCHAT_SYNC_INTERVAL": "1m",
        "REPOCHAT_INDEX_JOBS_IN_PARALLEL": "2",
    }
    chroma.stop()


def sync_runs(hatchet: Hatchet, since: datetime) -> list[Any]:
    """The runs of the sync task (each tick of the cron) created since `since`."""
    name = hatchet.config.apply_namespace(SYNC_TASK)
    workflows = [w.metadata.id for w in hatchet.workflows.list(workflow_name=SYNC_TASK).rows or [] if w.name == name]
    return list(hatchet.runs.list(workflow_ids=workflows, since=since).rows) if workflows else []


def crons_of_the_sync_task(hatchet: Hatchet) -> list[str]:
    name = hatchet.config.apply_namespace(SYNC_TASK)
    workflows = [w.metadata.id for w in hatchet.workflows.list(workflow_name=SYNC_TASK).rows or [] if w.name == name]
    return [c.cron for w in workflows for c in hatchet.cron.list(workflow_id=w).rows or []]


def synced_entry(api: ApiServer, collection: str) -> dict[str, Any]:
    entries = api.client.get("/v1/repositories", params={"collection": collection}).json()["repositories"]
    assert len(entries) == 1, entries
    entry: dict[str, Any] = entries[0]
    return entry


def test_the_cron_workflow_syncs_a_new_commit_once_per_tick_for_the_whole_cluster(
    tmp_path: Path, gh: FakeGitHub, serve: ServeFactory, cluster_env: dict[str, str], hatchet: Hatchet
) -> None:
    repo = gh.create_repo("acme", "widgets", FILES)
    workers = [
        WorkerProcess.start(repochat_env(tmp_path / f"worker-{n}", **cluster_env), tmp_path / f"worker-{n}.log")
        for n in (1, 2)
    ]
    try:
        api = serve(**cluster_env)
        collection = f"sync-{uuid.uuid4().hex[:8]}"
        started = datetime.now().astimezone()
        queued = api.client.post("/v1/repositories", json={"source": "acme/widgets", "collection": collection})
        assert queued.status_code == 202, queued.text
        assert api.wait_for_job(queued.json()["job_id"])["state"] == "succeeded"
        head = repo.commit("calibrate", {"docs/setup.md": "# Setup\n\nCalibrate the quokka frobnicator first.\n"})

        def synced() -> dict[str, Any]:
            entry = synced_entry(api, collection)
            finished = entry["commit"] == head and entry["sync"]["last_result"] == "updated"
            return entry["sync"] if finished else {}

        sync = wait_until(synced, 180, "a scheduled sync of the new commit")
        assert (sync["last_trigger"], sync["last_error"], sync["syncing_job_id"]) == ("schedule", None, None), sync
        assert datetime.fromisoformat(sync["next_sync_at"]).second == 0  # the next minute's tick

        wait_until(lambda: len(sync_runs(hatchet, started)) >= 2, 150, "a second tick")
        runs = sync_runs(hatchet, started)
        per_minute = Counter(run.created_at.replace(second=0, microsecond=0) for run in runs)
        assert set(per_minute.values()) == {1}, per_minute  # two workers, one run per tick
        assert all(run.status in (V1TaskStatus.RUNNING, V1TaskStatus.COMPLETED) for run in runs), runs
        assert "scheduled sync:" in workers[0].text() + workers[1].text()
        assert "syncing every indexed ref" not in api.output()  # API replicas never schedule with Hatchet
    finally:
        for worker in workers:
            worker.close()
        crons = crons_of_the_sync_task(hatchet)
        # A worker without an interval stops the schedule (and leaves none ticking on the shared engine).
        unscheduled = {**cluster_env, "REPOCHAT_SYNC_INTERVAL": ""}
        WorkerProcess.start(repochat_env(tmp_path / "worker-3", **unscheduled), tmp_path / "worker-3.log").close()

    assert crons == ["* * * * *"]
    assert crons_of_the_sync_task(hatchet) == []
