"""Hatchet workers: indexing throughput with 1 and 2 `repochat worker` processes, and Hatchet's cost per task.

Usage: python benchmarks/workers.py [--files 400] [--latency 0.05] [--slots 8] [--files-per-task 16]

Needs the dev engine (`scripts/hatchet-dev.sh up`). Everything else runs on 127.0.0.1: a
generated folder of markdown files, the fake OpenAI server of the integration tests answering
every embedding call after --latency seconds (as a remote API would), a `chroma run` server,
and `repochat worker` subprocesses. Each run is a full index into a fresh collection:

1. in-process, embedded Chroma: the InProcessJobQueue with embedded Chroma, as `repochat index`
   runs it; batches of --files-per-task files one after another;
2. in-process, Chroma server: the same against the Chroma server the workers use, to tell the
   server's cost from Hatchet's;
3. Hatchet, 1 worker with 2 slots: the parent task and one batch task at a time, so batches run
   one after another as in (2): its extra time over (2), per batch task, is what Hatchet adds to
   each task (trigger, scheduling, dispatch, result, progress line);
4. Hatchet, 1 worker with --slots slots (batches in parallel);
5. Hatchet, 2 workers with --slots slots each: the speed-up over (4).

Times are wall-clock seconds from submitting the job until its finished state is read back.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

import httpx  # noqa: E402
from hatchet_sdk import Hatchet  # noqa: E402
from tests.integration.fake_openai import FakeOpenAI, slow  # noqa: E402
from tests.integration.helpers import free_port, wait_for_workers, wait_until  # noqa: E402

from adapters.queue.hatchet.client import connect_hatchet  # noqa: E402
from adapters.queue.hatchet.queue import HatchetJobQueue  # noqa: E402
from adapters.queue.inprocess import InProcessJobQueue  # noqa: E402
from domain.jobs import IndexRequest, Job  # noqa: E402
from entrypoints.container import Container, running  # noqa: E402
from entrypoints.settings import Settings  # noqa: E402
from entrypoints.source_input import source_spec  # noqa: E402

BIN = Path(sys.executable).parent
WORDS = [
    "index",
    "worker",
    "queue",
    "batch",
    "vector",
    "chunk",
    "embed",
    "search",
    "answer",
    "cite",
    "repository",
    "commit",
    "manifest",
    "retry",
    "schedule",
    "engine",
    "slot",
    "task",
    "parent",
    "child",
    "durable",
    "cancel",
    "progress",
    "token",
    "model",
    "server",
    "client",
    "cache",
    "archive",
    "folder",
    "branch",
    "tree",
    "blob",
    "file",
    "heading",
    "section",
    "paragraph",
    "latency",
    "throughput",
    "scale",
    "replica",
]


@dataclass(frozen=True)
class Run:
    key: str
    name: str
    files: int
    chunks: int
    seconds: float
    tasks: int
    cpu_seconds: float
    """CPU time of the indexing processes: the workers, or this process in-process (the fake API's included)."""
    chroma_cpu_seconds: float = 0.0
    """CPU time of the Chroma server (0 for embedded Chroma: it is in this process)."""

    @property
    def files_per_s(self) -> float:
        return self.files / self.seconds

    @property
    def chunks_per_s(self) -> float:
        return self.chunks / self.seconds


# -- the repository and the services


def generate_repository(folder: Path, files: int) -> None:
    """`files` markdown pages of four sections each (about five chunks a page), fixed seed."""
    rng = random.Random(0)
    for i in range(files):
        sections = [f"# Page {i}\n"]
        for s in range(4):
            words = " ".join(rng.choice(WORDS) for _ in range(170))
            sections.append(f"## Topic {i}.{s}\n\n{words}.\n")
        path = folder / f"part-{i // 50:02d}" / f"page-{i:04d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(sections))


@contextmanager
def chroma_server(folder: Path) -> Iterator[tuple[str, int]]:
    """The server's URL and process id."""
    port = free_port()
    log = (folder / "chroma.log").open("wb")
    chroma = shutil.which("chroma") or str(BIN / "chroma")
    process = subprocess.Popen(
        [chroma, "run", "--path", str(folder / "chroma"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{url}/api/v2/heartbeat"), 60, "the Chroma server answering")
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def hatchet_env() -> dict[str, str]:
    result = subprocess.run(["bash", str(ROOT / "scripts/hatchet-dev.sh"), "env"], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"no Hatchet engine: run scripts/hatchet-dev.sh up ({result.stderr.strip()})")
    lines = [line.removeprefix("export ") for line in result.stdout.splitlines() if line.startswith("export ")]
    return dict(line.split("=", 1) for line in lines)


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """This process's environment with `values`, for Settings() and the Hatchet client to read."""
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class Workers:
    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self._folder = folder
        self._env = env
        self._processes: list[subprocess.Popen[bytes]] = []
        self._names: set[str] = set()

    def start(self, slots: int) -> None:
        log = self._folder / f"worker-{len(self._processes) + 1}-{slots}.log"
        command = shutil.which("repochat", path=str(BIN)) or "repochat"
        name = f"benchmark-worker-{uuid.uuid4().hex[:8]}"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [command, "worker", "--slots", str(slots), "--name", name],
                env={**os.environ, **self._env},
                stdout=out,
                stderr=out,
                cwd=ROOT,
                start_new_session=True,
            )
        self._processes.append(process)
        self._names.add(name)
        wait_until(lambda: "waiting for tasks" in log.read_text(errors="replace"), 60, "a worker starting")

    def cpu_seconds(self) -> float:
        """CPU time used so far by the running workers' main processes (Linux /proc)."""
        return sum(_cpu_seconds(p.pid) for p in self._processes if p.poll() is None)

    def settle(self, hatchet: Hatchet) -> None:
        """Until the engine lists every started worker as active: a worker gets tasks once it has sent a heartbeat."""
        wait_for_workers(hatchet, self._names)

    def stop(self) -> None:
        for process in self._processes:
            process.send_signal(signal.SIGTERM)
        for process in self._processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self._processes = []
        self._names = set()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the runs


def common_env(fake: FakeOpenAI, files_per_task: int) -> dict[str, str]:
    return {
        "REPOCHAT_EMBEDDINGS": "openai",
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "sk-benchmark",
        "REPOCHAT_INDEX_FILES_PER_TASK": str(files_per_task),
        "REPOCHAT_INDEX_JOBS_IN_PARALLEL": "1",
        "HF_HUB_OFFLINE": "1",
    }


async def run_inprocess(key: str, name: str, request: IndexRequest, files_per_task: int) -> tuple[Run, list[TaskTimes]]:
    container = Container(settings=Settings(), process_name="benchmark")
    container.index_repository.add_kwargs(files_per_batch=files_per_task)
    async with running(container, run_jobs=True):
        queue = container.job_queue()
        assert isinstance(queue, InProcessJobQueue)
        start, cpu = time.perf_counter(), time.process_time()
        job = await queue.submit(request)
        await queue.wait_idle()
        job = await queue.get(job.id)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return _run(key, name, job, seconds, -(-job.progress.files_total // files_per_task), cpu), []


@dataclass(frozen=True)
class TaskTimes:
    """One batch task's timestamps, as the engine recorded them."""

    created: datetime
    started: datetime
    finished: datetime

    @property
    def duration(self) -> float:
        return (self.finished - self.started).total_seconds()


async def run_hatchet(
    key: str, name: str, hatchet: Hatchet, request: IndexRequest, workers: Workers
) -> tuple[Run, list[TaskTimes]]:
    queue = HatchetJobQueue(hatchet)
    cpu = workers.cpu_seconds()
    start = time.perf_counter()
    job = await queue.submit(request)
    while not job.state.finished:
        await asyncio.sleep(0.05)
        job = await queue.get(job.id)
    seconds, cpu = time.perf_counter() - start, workers.cpu_seconds() - cpu
    children = await hatchet.runs.aio_list(parent_task_external_id=job.id, limit=1000)
    times = [
        TaskTimes(row.created_at, row.started_at, row.finished_at)
        for row in children.rows
        if row.started_at and row.finished_at and row.started_at.year > 1970 and row.finished_at.year > 1970
    ]
    return _run(key, name, job, seconds, len(children.rows), cpu), sorted(times, key=lambda t: t.started)


async def measured(chroma_pid: int, run: Awaitable[tuple[Run, list[TaskTimes]]]) -> tuple[Run, list[TaskTimes]]:
    """The run with the CPU time the Chroma server spent meanwhile."""
    before = _cpu_seconds(chroma_pid)
    result, times = await run
    return replace(result, chroma_cpu_seconds=_cpu_seconds(chroma_pid) - before), times


def handoff_gaps(times: list[TaskTimes]) -> list[float]:
    """With one batch slot, the time from one batch task's end to the next one's start: scheduling and dispatch."""
    return [(b.started - a.finished).total_seconds() for a, b in itertools.pairwise(times) if b.started >= a.finished]


def _run(key: str, name: str, job: Job, seconds: float, tasks: int, cpu: float) -> Run:
    if job.result is None:
        sys.exit(f"{name}: the job did not succeed: {job.state.value} {job.error}")
    return Run(key, name, job.result.files_indexed, job.result.chunks_written, seconds, tasks, cpu)


# -- report


def report(runs: list[Run], serial_times: list[TaskTimes], files: int, latency: float) -> None:
    print(
        f"\n{files} generated markdown files; embeddings from a fake OpenAI API answering after {latency * 1000:.0f} ms"
    )
    print(
        f"this machine: {os.cpu_count()} CPUs, shared by the workers, Chroma, the engine, PostgreSQL and the fake API"
    )
    header = f"{'run':36} {'files':>6} {'chunks':>7} {'tasks':>6} {'seconds':>8} {'files/s':>8} {'chunks/s':>9}"
    print(f"{header} {'CPU s':>6} {'Chroma CPU s':>13}")
    for r in runs:
        print(
            f"{r.name:36} {r.files:6d} {r.chunks:7d} {r.tasks:6d} {r.seconds:8.2f} {r.files_per_s:8.1f} "
            f"{r.chunks_per_s:9.1f} {r.cpu_seconds:6.1f} {r.chroma_cpu_seconds:13.1f}"
        )
    by_key = {r.key: r for r in runs}
    one, two, serial = by_key["hatchet-1w"], by_key["hatchet-2w"], by_key["hatchet-serial"]
    inproc, inproc_server = by_key["inprocess"], by_key["inprocess-server"]
    print(f"\nspeed-up, 2 workers over 1: x{one.seconds / two.seconds:.2f}")
    print(f"Hatchet, 1 worker, against in-process with embedded Chroma: x{inproc.seconds / one.seconds:.2f}")
    per_task = (serial.seconds - inproc_server.seconds) / serial.tasks
    print(
        f"Hatchet's cost per batch task, serial run against in-process on the Chroma server: {per_task * 1000:.0f} ms"
    )
    gaps = handoff_gaps(serial_times)
    if gaps and serial_times:
        batch = inproc_server.seconds / inproc_server.tasks
        extra = [t.duration - batch for t in serial_times]
        print(
            f"  between two batch tasks (scheduling, dispatch): mean {statistics.fmean(gaps) * 1000:.0f} ms, "
            f"median {statistics.median(gaps) * 1000:.0f} ms"
        )
        print(
            f"  inside a batch task, over an in-process batch: mean {statistics.fmean(extra) * 1000:.0f} ms, "
            f"median {statistics.median(extra) * 1000:.0f} ms"
        )
        span = (serial_times[-1].finished - serial_times[0].started).total_seconds()
        print(f"  per job: submit to first batch task plus last batch task to done: {serial.seconds - span:.2f} s")


async def benchmark(args: argparse.Namespace, folder: Path, chroma_url: str, chroma_pid: int, fake: FakeOpenAI) -> None:
    repo = folder / "repo"
    generate_repository(repo, args.files)
    spec = source_spec(str(repo))
    base = common_env(fake, args.files_per_task)
    per_task = args.files_per_task

    with environment({**base, "REPOCHAT_JOB_QUEUE": "inprocess", "REPOCHAT_DATA_DIR": str(folder / "embedded")}):
        inproc, _ = await run_inprocess(
            "inprocess", "in-process, embedded Chroma", IndexRequest(spec, "bench-1"), per_task
        )
    server = {
        "REPOCHAT_JOB_QUEUE": "inprocess",
        "REPOCHAT_DATA_DIR": str(folder / "data"),
        "REPOCHAT_CHROMA_URL": chroma_url,
    }
    with environment({**base, **server}):
        name = "in-process, Chroma server"
        inproc_server, _ = await measured(
            chroma_pid, run_inprocess("inprocess-server", name, IndexRequest(spec, "bench-2"), per_task)
        )

    cluster = {**base, **hatchet_env(), "REPOCHAT_JOB_QUEUE": "hatchet", "REPOCHAT_CHROMA_URL": chroma_url}
    workers = Workers(folder, {**cluster, "REPOCHAT_DATA_DIR": str(folder / "worker-data")})
    with environment(cluster):
        hatchet = connect_hatchet()
        try:
            workers.start(slots=2)
            workers.settle(hatchet)
            name = "Hatchet, 1 worker x 2 slots"
            serial, serial_times = await measured(
                chroma_pid, run_hatchet("hatchet-serial", name, hatchet, IndexRequest(spec, "bench-3"), workers)
            )
            workers.stop()
            workers.start(slots=args.slots)
            workers.settle(hatchet)
            name = f"Hatchet, 1 worker x {args.slots} slots"
            one, _ = await measured(
                chroma_pid, run_hatchet("hatchet-1w", name, hatchet, IndexRequest(spec, "bench-4"), workers)
            )
            workers.start(slots=args.slots)
            workers.settle(hatchet)
            name = f"Hatchet, 2 workers x {args.slots} slots"
            two, _ = await measured(
                chroma_pid, run_hatchet("hatchet-2w", name, hatchet, IndexRequest(spec, "bench-5"), workers)
            )
        finally:
            workers.stop()
    report([inproc, inproc_server, serial, one, two], serial_times, args.files, args.latency)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the fake API takes per embedding call")
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--files-per-task", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="repochat-workers-") as temp, FakeOpenAI() as fake:
        folder = Path(temp)
        folder.chmod(0o755)  # the workers are other processes: they read the generated files
        fake.fail_next(100_000, slow(args.latency), path="/v1/embeddings")
        with chroma_server(folder) as (chroma_url, chroma_pid):
            asyncio.run(benchmark(args, folder, chroma_url, chroma_pid, fake))


if __name__ == "__main__":
    main()
