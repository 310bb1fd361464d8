"""Durable, distributed indexing on a real Hatchet engine, with real `repochat worker` processes.

Needs the engine of `scripts/hatchet-dev.sh up` (CI runs it before pytest); without it these
tests are skipped locally and fail on CI. Every process shares one Chroma server, and the
embeddings come from the fake OpenAI server, whose injected latency keeps a job running long
enough to kill, cancel or share it, and whose injected 500s make batches fail. Refs come from
the GitHub-shaped fake server. Each test indexes into its own collection, so runs of one test
never meet another's.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import chromadb
import pytest
from hatchet_sdk import Hatchet, V1TaskStatus

from tests.integration.cluster import (
    WORKER_READY,
    WorkerProcess,
    hatchet_dev_env,
    job,
    private_namespace,
    submit,
    wait_for_progress,
)
from tests.integration.fake_github import FakeGitHub
from tests.integration.fake_openai import FakeOpenAI, server_error, slow
from tests.integration.helpers import (
    ROOT,
    ApiServer,
    ServeFactory,
    assert_stays,
    repochat_command,
    repochat_env,
    wait_for_workers,
    wait_until,
)

pytestmark = pytest.mark.hatchet

EMBEDDINGS = "/v1/embeddings"
FILES_PER_TASK = 8
JOBS_IN_PARALLEL = 2
"""Small, so that workers with 3 slots (a parent and two batches) are allowed."""
FIRST_SWAP_FAILS_WORKER = [
    sys.executable,
    "-c",
    """import sys
from adapters.vectorstore.chroma_manifests import ChromaManifestStore
from domain.errors import UpstreamUnavailable
from entrypoints.cli import main
save, failed = ChromaManifestStore.save, []
async def save_but_the_first_time(self, collection, manifest):
    if not failed:
        failed.append(manifest)
        raise UpstreamUnavailable("the Chroma server dropped the connection (injected)")
    await save(self, collection, manifest)
ChromaManifestStore.save = save_but_the_first_time
sys.exit(main())
""",
]
"""`repochat` whose first manifest swap fails as a Chroma server that drops a connection makes it fail."""


@pytest.fixture(scope="session")
def hatchet_env() -> dict[str, str]:
    """The HATCHET_CLIENT_* variables of the running dev engine (this fixture does not start it).

    With a namespace of this session's own: the SDK prefixes workflow and worker names with it, so
    workers of another test run on the same engine never take this run's tasks, nor these workers its.
    """
    return {**hatchet_dev_env(), **private_namespace()}


@pytest.fixture(scope="session")
def hatchet(hatchet_env: dict[str, str]) -> Hatchet:
    """A client of the engine's REST API, to see what the engine knows (workers, runs)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in hatchet_env.items():
            patch.setenv(name, value)
        return Hatchet()  # the SDK reads its configuration once, here


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(scope="module")
def gh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGitHub]:
    with FakeGitHub(tmp_path_factory.mktemp("github")) as server:
        yield server


@pytest.fixture(autouse=True)
def _clean_fake(fake_openai: FakeOpenAI) -> Iterator[None]:
    fake_openai.reset()
    yield
    fake_openai.reset()


@pytest.fixture(scope="module")
def cluster_env(
    hatchet_env: dict[str, str], chroma_server: str, fake_openai: FakeOpenAI, local_roots: str, gh: FakeGitHub
) -> dict[str, str]:
    """What the API and the workers share: the engine, the Chroma server, the embeddings, what to index."""
    return {
        **hatchet_env,
        "REPOCHAT_LOCAL_ROOTS": local_roots,
        "REPOCHAT_GITHUB_API_URL": gh.api_url,
        "REPOCHAT_JOB_QUEUE": "hatchet",
        "REPOCHAT_CHROMA_URL": chroma_server,
        **fake_openai.embeddings_env(),
        "REPOCHAT_INDEX_FILES_PER_TASK": str(FILES_PER_TASK),
        "REPOCHAT_INDEX_JOBS_IN_PARALLEL": str(JOBS_IN_PARALLEL),
    }


@dataclass
class Worker:
    name: str
    """Unique, so that the engine's list of workers tells this one apart."""
    process: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the worker and the listener process the SDK spawns, as a container kill does."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


class Workers:
    """`repochat worker` processes, each in its own process group so that nothing outlives a test."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self._folder = folder
        self._env = env
        self._started: list[Worker] = []

    def start(self, slots: int = 3) -> Worker:
        log = self._folder / f"worker-{len(self._started) + 1}.log"
        name = f"repochat-test-{uuid.uuid4().hex[:8]}"
        env = repochat_env(self._folder / "data", **self._env)
        with log.open("wb") as out:
            process = subprocess.Popen(
                [repochat_command(), "worker", "--slots", str(slots), "--name", name],
                env=env,
                stdout=out,
                stderr=out,
                cwd=ROOT,
                start_new_session=True,
            )
        worker = Worker(name, process, log)
        self._started.append(worker)
        wait_until(lambda: WORKER_READY in worker.text() or process.poll() is not None, 60, "worker start")
        assert process.poll() is None, worker.text()[-3000:]
        return worker

    def stop_all(self) -> None:
        """SIGTERM (graceful) first; whatever is left of a process group after 20 s is killed."""
        for worker in self._started:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        for worker in self._started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.process.wait(timeout=20)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.process.pid, signal.SIGKILL)
            if worker.process.poll() is None:
                worker.process.wait(timeout=10)


@pytest.fixture
def workers(tmp_path: Path, cluster_env: dict[str, str]) -> Iterator[Workers]:
    pool = Workers(tmp_path, cluster_env)
    yield pool
    pool.stop_all()


@pytest.fixture(scope="class")
def shared_worker(tmp_path_factory: pytest.TempPathFactory, cluster_env: dict[str, str]) -> Iterator[Worker]:
    """One worker for the tests that do not start or kill their own."""
    pool = Workers(tmp_path_factory.mktemp("shared-worker"), cluster_env)
    worker = pool.start(slots=8)
    yield worker
    pool.stop_all()


@pytest.fixture
def api(serve: ServeFactory, cluster_env: dict[str, str]) -> ApiServer:
    return serve(**cluster_env)


# -- helpers


def unique(name: str) -> str:
    return f"hatchet-{name}-{uuid.uuid4().hex[:8]}"


def search(api: ApiServer, query: str, collection: str, k: int = 5) -> list[dict[str, Any]]:
    response = api.client.post("/v1/search", json={"query": query, "collection": collection, "k": k})
    assert response.status_code == 200, response.text
    hits: list[dict[str, Any]] = response.json()["hits"]
    return hits


def chunk_ids(chroma_url: str, collection: str) -> list[str]:
    """Straight from the Chroma server, not through repochat."""
    url = urlparse(chroma_url)
    client = chromadb.HttpClient(host=url.hostname or "127.0.0.1", port=url.port or 8000)
    ids: list[str] = client.get_collection(collection).get(include=[])["ids"]
    return ids


def submit_ref(api: ApiServer, repository: str, ref: str | None, collection: str) -> str:
    """Queue an index job of `ref` of the GitHub `repository` (None: its default branch); its id."""
    response = api.client.post("/v1/repositories", json={"source": repository, "ref": ref, "collection": collection})
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def batch_runs_ended(hatchet: Hatchet, job_id: str) -> bool:
    """Whether the engine has the job's run and all of its batch runs (children) finished."""
    unfinished = (V1TaskStatus.QUEUED, V1TaskStatus.RUNNING)
    parent = hatchet.runs.get_status(job_id)
    children = hatchet.runs.list(parent_task_external_id=job_id, limit=1000).rows
    return parent not in unfinished and all(child.status not in unfinished for child in children)


def copy_corpus(corpus: Path, target: Path) -> Path:
    shutil.copytree(corpus, target)
    return target


def add_latency(fake: FakeOpenAI, seconds: float) -> None:
    fake.fail_next(100_000, slow(seconds), path=EMBEDDINGS)


# -- one shared worker


@pytest.mark.usefixtures("shared_worker")
class TestWithOneWorker:
    def test_api_submits_a_worker_indexes_and_search_finds_it(self, api: ApiServer, corpus: Path) -> None:
        collection = unique("basic")
        done = api.wait_for_job(submit(api, corpus, collection), timeout=120)
        assert done["state"] == "succeeded", done
        result = done["result"]
        assert result["files_indexed"] > 100 and result["chunks_written"] > 0 and result["embedding_calls"] > 0
        assert done["progress"]["files_done"] == done["progress"]["files_total"] == result["files_indexed"]

        hits = search(api, "dependency injection with Depends", collection)
        assert hits and hits[0]["repository"] == f"local:{corpus}"
        assert hits[0]["url"].startswith("file://")

        again = api.wait_for_job(submit(api, corpus, collection), timeout=60)
        assert again["state"] == "succeeded" and again["result"]["embedding_calls"] == 0, again
        listed = [j["id"] for j in api.client.get("/v1/jobs").json()["jobs"]]
        assert done["id"] in listed and again["id"] in listed
        assert api.client.get("/readyz").json()["checks"]["job_queue"] == "ok"
        assert api.client.get(f"/v1/jobs/{uuid.uuid4()}").status_code == 404
        assert api.client.get("/v1/jobs/not-a-job").status_code == 404

    def test_submissions_for_a_running_repository_coalesce(
        self, api: ApiServer, corpus: Path, fake_openai: FakeOpenAI
    ) -> None:
        add_latency(fake_openai, 0.5)
        collection = unique("coalesce")
        first = submit(api, corpus, collection)
        wait_until(lambda: job(api, first)["state"] == "running", 30, "the job to run")
        assert submit(api, corpus, collection) == first
        assert submit(api, corpus, collection) == first
        other = submit(api, corpus, unique("other"))
        assert other != first  # another collection, another job
        for job_id in (first, other):
            assert api.client.delete(f"/v1/jobs/{job_id}").json()["state"] == "cancelled"

    def test_refs_of_a_repository_are_jobs_of_their_own_that_run_one_after_the_other(
        self, api: ApiServer, gh: FakeGitHub, fake_openai: FakeOpenAI, hatchet: Hatchet
    ) -> None:
        owner = unique("refs")
        repo = gh.create_repo(owner, "widgets", {"guide.md": "# Guide\n\nConfigure the widget frobnicator.\n"})
        repo.tag("v1")
        repo.commit("two", {"guide.md": "# Guide\n\nCalibrate the widget frobnicator first.\n"})
        add_latency(fake_openai, 1.0)  # each job embeds its one file for a second
        collection = unique("refs")
        repository = f"{owner}/widgets"

        default_branch = submit_ref(api, repository, None, collection)
        at_v1 = submit_ref(api, repository, "v1", collection)
        assert at_v1 != default_branch
        assert submit_ref(api, repository, "v1", collection) == at_v1
        assert submit_ref(api, repository, None, collection) == default_branch

        for job_id, commit in ((default_branch, repo.head()), (at_v1, repo.head("v1"))):
            done = api.wait_for_job(job_id, timeout=120)
            assert done["state"] == "succeeded", done
            assert (done["result"]["files_indexed"], done["result"]["commit"]) == (1, commit), done
        runs = sorted((hatchet.runs.get(job_id).run for job_id in (default_branch, at_v1)), key=lambda r: r.created_at)
        first, second = runs
        assert first.finished_at is not None and second.started_at is not None
        assert second.started_at >= first.finished_at, [(r.started_at, r.finished_at) for r in runs]

    def test_cancel_keeps_the_previous_version_searchable_and_deletes_what_the_job_wrote(
        self,
        api: ApiServer,
        corpus: Path,
        tmp_path: Path,
        fake_openai: FakeOpenAI,
        hatchet: Hatchet,
        chroma_server: str,
    ) -> None:
        repo = copy_corpus(corpus, tmp_path / "repo")
        collection = unique("cancel")
        first = api.wait_for_job(submit(api, repo, collection), timeout=120)
        assert first["state"] == "succeeded", first
        for path in repo.rglob("*.md"):
            path.write_text(path.read_text() + "\n\nThe quokka zanzibar paragraph of version two.\n")
        add_latency(fake_openai, 1.0)

        second = submit(api, repo, collection)
        running = wait_for_progress(api, second, files_done=FILES_PER_TASK)
        assert running["progress"]["files_done"] < running["progress"]["files_total"]
        cancelled = api.client.delete(f"/v1/jobs/{second}")
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled", cancelled.text
        assert job(api, second)["state"] == "cancelled"

        repository = api.client.get(f"/v1/repositories/local:{repo}").json()["collections"][0]
        assert repository["commit"] == first["result"]["commit"]
        hits = search(api, "quokka zanzibar paragraph", collection)
        assert hits and all("quokka" not in hit["text"] for hit in hits)

        wait_until(lambda: batch_runs_ended(hatchet, second), 30, "the job's batch runs ending with it")
        requests = len(fake_openai.embedding_requests)
        assert_stays(  # a batch still running on the worker would embed its next files within a second
            lambda: len(fake_openai.embedding_requests) == requests, 2.5, "an embedding request after the cancel"
        )
        live = first["result"]["chunks_written"]  # the discard run deletes what the cancelled job wrote
        wait_until(lambda: len(chunk_ids(chroma_server, collection)) == live, 30, "the cancelled job's chunks going")

    def test_a_failing_embedding_api_is_retried_then_fails_the_job(
        self, api: ApiServer, tmp_path: Path, fake_openai: FakeOpenAI
    ) -> None:
        repo = tmp_path / "small"
        repo.mkdir()
        (repo / "guide.md").write_text("# Guide\n\nHow to configure the widget frobnicator.\n")
        fake_openai.fail_next(100_000, server_error(500), path=EMBEDDINGS)

        failed = api.wait_for_job(submit(api, repo, unique("failing")), timeout=240)
        assert failed["state"] == "failed", failed
        assert "embedding" in failed["error"] and "500" in failed["error"], failed["error"]
        assert "Traceback" not in failed["error"]
        requests = len(fake_openai.embedding_requests)
        assert requests >= 2 * 4, requests  # each attempt of the batch task makes 4 (the client retries 3 times)


# -- workers started, killed and shared per test


def test_a_retried_job_keeps_what_its_failed_attempt_wrote_and_embeds_nothing_again(
    api: ApiServer,
    cluster_env: dict[str, str],
    tmp_path: Path,
    corpus: Path,
    chroma_server: str,
    fake_openai: FakeOpenAI,
) -> None:
    worker = WorkerProcess.start(
        repochat_env(tmp_path / "worker-data", **cluster_env), tmp_path / "worker.log", command=FIRST_SWAP_FAILS_WORKER
    )
    try:
        collection = unique("retried")
        job_id = submit(api, corpus, collection)
        wait_until(lambda: "injected" in worker.text(), 180, "the first attempt failing at its swap")
        embedded_by_the_first_attempt = len(fake_openai.embedding_requests)
        # Between attempts the engine may show the run as failed: the job is over once the retry is.
        wait_until(lambda: "(attempt 2)" in worker.text(), 120, "the retry starting")

        done = api.wait_for_job(job_id, timeout=180)

        assert done["state"] == "succeeded", done
        assert len(fake_openai.embedding_requests) == embedded_by_the_first_attempt > 0
        chunks = {
            r["collection"]: r["chunks"]
            for r in api.client.get(f"/v1/repositories/local:{corpus}").json()["collections"]
        }
        assert len(chunk_ids(chroma_server, collection)) == chunks[collection] == done["result"]["chunks_written"] > 0
    finally:
        worker.close()


def test_a_killed_worker_loses_nothing(
    api: ApiServer, workers: Workers, corpus: Path, chroma_server: str, fake_openai: FakeOpenAI
) -> None:
    first = workers.start()
    reference = unique("reference")
    undisturbed = api.wait_for_job(submit(api, corpus, reference), timeout=120)
    assert undisturbed["state"] == "succeeded", undisturbed

    add_latency(fake_openai, 0.5)
    collection = unique("killed")
    job_id = submit(api, corpus, collection)
    at_kill = wait_for_progress(api, job_id, files_done=2 * FILES_PER_TASK)
    first.kill()
    assert at_kill["progress"]["files_done"] < at_kill["progress"]["files_total"]
    fake_openai.reset()
    second = workers.start()

    finished = api.wait_for_job(job_id, timeout=240)
    assert finished["state"] == "succeeded", finished
    assert f"job={job_id}" in second.text()  # the job was finished by the second worker
    expected = chunk_ids(chroma_server, reference)
    got = chunk_ids(chroma_server, collection)
    assert len(got) == len(set(got)) == len(expected)
    assert set(got) == set(expected)
    repository = api.client.get(f"/v1/repositories/local:{corpus}").json()["collections"]
    chunks = {r["collection"]: r["chunks"] for r in repository}
    assert chunks[collection] == chunks[reference] == len(expected)


def test_two_workers_share_the_batches_of_one_job(
    api: ApiServer, workers: Workers, corpus: Path, fake_openai: FakeOpenAI, hatchet: Hatchet
) -> None:
    pair = [workers.start(), workers.start()]
    wait_for_workers(hatchet, {worker.name for worker in pair})  # both can be given batches when the job fans out
    add_latency(fake_openai, 0.3)
    done = api.wait_for_job(submit(api, corpus, unique("shared")), timeout=180)
    assert done["state"] == "succeeded", done
    for worker in pair:
        batches = [line for line in worker.text().splitlines() if f"job={done['id']}" in line and "done:" in line]
        assert batches, f"worker {worker.log.name} indexed no batch of the job"


def test_sigterm_lets_running_batches_finish_then_closes_the_worker(
    api: ApiServer, workers: Workers, corpus: Path, fake_openai: FakeOpenAI, hatchet: Hatchet
) -> None:
    """SIGTERM is a graceful stop: no new task is taken, running ones finish, the worker exits 0."""
    leaving, staying = workers.start(), workers.start()
    wait_for_workers(hatchet, {leaving.name, staying.name})  # both can be given batches when the job fans out
    add_latency(fake_openai, 0.3)
    job_id = submit(api, corpus, unique("graceful"))

    def batches(marker: str) -> set[str]:
        pattern = re.compile(rf"job={job_id} .*batch (\d+) of \d+{marker}")
        return {m.group(1) for m in map(pattern.search, leaving.text().splitlines()) if m}

    wait_until(lambda: batches(": "), 90, "a batch of the job on the worker to stop")
    leaving.process.send_signal(signal.SIGTERM)

    assert leaving.process.wait(timeout=240) == 0, leaving.text()[-3000:]
    assert batches(": ") == batches(" done:"), "a batch the worker started was abandoned"
    assert "worker stopped; container closed" in leaving.text()
    finished = api.wait_for_job(job_id, timeout=240)
    assert finished["state"] == "succeeded", finished
    assert f"job={job_id}" in staying.text()
