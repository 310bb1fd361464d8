"""Scale benchmark: search in one collection of 10k, 100k or 1M chunks, tantivy against the old in-memory index.

    python benchmarks/scale.py [--sizes 10000,100000,1000000] [--baseline-up-to 100000] [--searches 60]

For each size, a collection holds copies of FastAPI's docs (`load_corpus`: about 2,400 chunks) as
many repositories as it takes, `org/repo-0`, `org/repo-1` ..., as an organisation's forks would:
the same file versions, their own chunk ids. The generated chunks are written straight into the
stores (embedded Chroma through `ChromaVectorIndex.upsert`, one manifest per repository through
`ChromaManifestStore`) with `hashing` vectors, so the figures are the stores' and the search's,
not an embedding model's or an index job's.

Each replica is a process of its own (`--replica`, the container as `repochat serve` builds it,
embedded Chroma, the `hashing` embedder) started on the data folder, which prints:
- cold start: from the process's start to its first hybrid search answered (imports, opening
  Chroma, the keyword index catching up from the store), and that first search alone;
- keyword index RSS: the process's resident memory after the first keyword search less after a
  dense-only search before it (so the vector store's share is left out), and its folder on disk;
- hybrid, dense and keyword p50/p95 over `--searches` searches each (the corpus' headings, k=5,
  the modes in a rotating order), and the server CPU ms per search (the process's CPU time, all
  threads, over the timed searches, by the searches).
The tantivy replica is then started again on the same folder: its first search after a restart.
With `--chroma-server` the replicas use a `chroma run` server on the data folder (the collection is
still written embedded, to the same files) instead of embedded Chroma: the cold replica's first
search then includes the server loading its vectors, and the restarted one finds them loaded.
The old in-memory index (`benchmarks/in_memory_bm25.py`) is measured the same way, in the same
run, at the sizes up to `--baseline-up-to` (it holds every chunk's postings in Python objects).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from dependency_injector import providers  # noqa: E402

from adapters.embeddings.hashing import HashingEmbedder  # noqa: E402
from application.search import SearchRequest  # noqa: E402
from benchmarks.in_memory_bm25 import InMemoryBm25Index  # noqa: E402
from benchmarks.indexing import Corpus, Latency, default_corpus, environment, load_corpus, search_queries  # noqa: E402
from domain.chunking import embedding_text  # noqa: E402
from domain.documents import CHUNKER_VERSION, Manifest, chunk_id  # noqa: E402
from domain.retrieval import RetrievalMode  # noqa: E402
from entrypoints.container import Container, running  # noqa: E402
from entrypoints.settings import Settings  # noqa: E402

COLLECTION = "default"
WRITE_BATCH = 5000
MODES = {"hybrid": RetrievalMode.HYBRID, "dense": RetrievalMode.DENSE, "keyword": RetrievalMode.KEYWORD}
INDEXES = ("tantivy", "in-memory")
QUERIES = Path(tempfile.gettempdir(), "repochat-scale-queries.json")
"""The queries, written by the run for its replica processes."""


def settings(data_dir: Path, chroma_url: str | None = None) -> Settings:
    return Settings(
        data_dir=data_dir, embeddings="hashing", llm="extractive", chroma_url=chroma_url, job_queue="inprocess"
    )


# ---------------------------------------------------------------- the collection


async def write_collection(data_dir: Path, corpus: Corpus, size: int, collection: str = COLLECTION) -> tuple[int, int]:
    """Copies of the corpus' chunks as repositories until `size` chunks are stored: (chunks, repositories)."""
    embedder = HashingEmbedder()
    vectors = await embedder.embed_documents([embedding_text(chunk) for chunk in corpus.chunks])
    files = {chunk.path: chunk.blob_sha for chunk in corpus.chunks}
    counts: dict[str, int] = {}
    for chunk in corpus.chunks:
        counts[chunk.path] = counts.get(chunk.path, 0) + 1
    container = Container(settings=settings(data_dir), process_name="repochat scale benchmark")
    written, repositories = 0, 0
    async with running(container):
        index, manifests = container.vector_index(), container.manifests()
        while written < size:
            repository = f"org/repo-{repositories}"
            copies = [
                replace(c, id=chunk_id(repository, c.path, c.blob_sha, c.ordinal), repository=repository, commit="c")
                for c in corpus.chunks
            ]
            for start in range(0, len(copies), WRITE_BATCH):
                batch = slice(start, start + WRITE_BATCH)
                await index.upsert(collection, embedder.name, copies[batch], vectors[batch])
            manifest = Manifest(
                repository,
                "github",
                "c",
                files,
                counts,
                ref=None,
                web_url=f"https://github.com/{repository}",
                chunker=CHUNKER_VERSION,
            )
            await manifests.save(collection, manifest)
            written, repositories = written + len(copies), repositories + 1
            print(f"  {written:,} chunks written", end="\r", flush=True)
    print()
    return written, repositories


async def stored_chunks(data_dir: Path) -> int:
    """The chunks a kept collection holds, by its manifests."""
    container = Container(settings=settings(data_dir), process_name="repochat scale benchmark")
    async with running(container):
        entries = await container.manifests().entries(COLLECTION)
    return sum(sum(manifest.chunk_counts.values()) for _, manifest in entries)


# ---------------------------------------------------------------- a replica


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def replica(
    data_dir: Path, index: str, started: float, queries: Sequence[str], searches: int, chroma_url: str | None
) -> dict[str, Any]:
    """One replica's figures: first search, memory, latency by mode and CPU per search (see the module docstring)."""
    container = Container(settings=settings(data_dir, chroma_url), process_name="repochat scale replica")
    if index == "in-memory":
        container.keyword_index.override(providers.Singleton(InMemoryBm25Index, container.vector_index))
    async with running(container):
        search = container.search()
        first_started = time.perf_counter()
        await search.execute(SearchRequest(queries[0], 5, COLLECTION, mode=RetrievalMode.HYBRID))
        figures: dict[str, Any] = {
            "cold_start_s": time.time() - started,
            "first_search_s": time.perf_counter() - first_started,
        }
        await search.execute(SearchRequest(queries[1], 5, COLLECTION, mode=RetrievalMode.DENSE))
        figures["rss_total_mb"] = rss_mb()
        seconds: dict[str, list[float]] = {label: [] for label in MODES}
        labels = list(MODES)
        cpu_started = time.process_time()
        for number in range(searches):
            question = queries[number % len(queries)]
            for label in labels[number % len(labels) :] + labels[: number % len(labels)]:
                container.query_embedder.reset()
                request = SearchRequest(question, 5, COLLECTION, mode=MODES[label])
                start = time.perf_counter()
                await search.execute(request)
                seconds[label].append(time.perf_counter() - start)
        figures["cpu_ms_per_search"] = 1000 * (time.process_time() - cpu_started) / (searches * len(MODES))
        figures["latency_ms"] = {label: _latency_ms(values) for label, values in seconds.items()}
        figures["rss_after_mb"] = rss_mb()
    return figures


def _latency_ms(seconds: Sequence[float]) -> dict[str, float]:
    latency = Latency.of(seconds)
    return {"p50": latency.p50_ms, "p95": latency.p95_ms}


def keyword_rss_mb(data_dir: Path, index: str, *flags: str) -> float:
    """The resident memory a replica gains by its keyword index: after a keyword search, less after a dense one."""
    figures = run_replica(data_dir, index, 0, "--memory", *flags)
    return float(figures["keyword_rss_mb"])


async def memory_probe(data_dir: Path, index: str, queries: Sequence[str], chroma_url: str | None) -> dict[str, Any]:
    container = Container(settings=settings(data_dir, chroma_url), process_name="repochat scale replica")
    if index == "in-memory":
        container.keyword_index.override(providers.Singleton(InMemoryBm25Index, container.vector_index))
    async with running(container):
        search = container.search()
        await search.execute(SearchRequest(queries[0], 5, COLLECTION, mode=RetrievalMode.DENSE))
        dense_only = rss_mb()
        await search.execute(SearchRequest(queries[0], 5, COLLECTION, mode=RetrievalMode.KEYWORD))
        for question in queries[:20]:
            await search.execute(SearchRequest(question, 5, COLLECTION, mode=RetrievalMode.KEYWORD))
        return {"keyword_rss_mb": rss_mb() - dense_only}


def run_replica(data_dir: Path, index: str, searches: int, *flags: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--replica", str(data_dir), "--index", index, "--searches", str(searches)]
    result = subprocess.run(
        [*command, "--started", repr(time.time()), *flags], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"replica failed:\n{result.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def disk_mb(folder: Path) -> float:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 1e6


# ---------------------------------------------------------------- report


def report_row(size: int, index: str, run: str, figures: dict[str, Any]) -> str:
    latency = figures["latency_ms"]
    caught_up = f"{size / figures['first_search_s']:,.0f}" if run == "cold" else ""  # a restart reads nothing
    return (
        f"| {size:,} | {index} | {run} | {figures.get('keyword_rss_mb', 0):.0f} | {figures.get('disk_mb', 0):.0f} "
        f"| {figures['cold_start_s']:.1f} | {figures['first_search_s']:.2f} "
        f"| {caught_up} "
        f"| {latency['hybrid']['p50']:.1f} / {latency['hybrid']['p95']:.1f} "
        f"| {latency['dense']['p50']:.1f} / {latency['dense']['p95']:.1f} "
        f"| {latency['keyword']['p50']:.1f} / {latency['keyword']['p95']:.1f} "
        f"| {figures['cpu_ms_per_search']:.1f} | {figures['rss_total_mb']:.0f} |"
    )


HEADER = [
    "| chunks | keyword index, Chroma | run | keyword RSS MB | keyword disk MB | process start to first search s "
    "| first search s | first search chunks/s | hybrid p50 / p95 ms | dense p50 / p95 ms | keyword p50 / p95 ms "
    "| server CPU ms per search | process RSS MB |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
]


# ---------------------------------------------------------------- main


@contextlib.contextmanager
def chroma(data_dir: Path, server: bool) -> Iterator[tuple[str, ...]]:
    """The replicas' flags: none for embedded Chroma, else the URL of a `chroma run` server on the data folder."""
    if not server:
        yield ()
        return
    from benchmarks.workers import chroma_server  # the parent's only: it imports the Hatchet SDK

    with chroma_server(data_dir) as (url, _):
        yield ("--chroma-url", url)


def measure_replicas(data_dir: Path, chunks: int, args: argparse.Namespace, flags: tuple[str, ...]) -> list[str]:
    """Each keyword index's rows: a new replica (cold) and, for tantivy, the same replica restarted."""
    rows: list[str] = []
    mode = "server" if flags else "embedded"
    for index in INDEXES:
        if index == "in-memory" and chunks > args.baseline_up_to:
            continue
        cold = run_replica(data_dir, index, args.searches, *flags)
        cold["keyword_rss_mb"] = keyword_rss_mb(data_dir, index, *flags)
        cold["disk_mb"] = disk_mb(data_dir / "keyword") if index == "tantivy" else 0.0
        rows.append(report_row(chunks, f"{index}, {mode}", "cold", cold))
        print(rows[-1], flush=True)
        if index == "tantivy":
            restarted = run_replica(data_dir, index, args.searches, *flags)
            restarted |= {"keyword_rss_mb": cold["keyword_rss_mb"], "disk_mb": cold["disk_mb"]}
            rows.append(report_row(chunks, f"{index}, {mode}", "restart", restarted))
            print(rows[-1], flush=True)
    return rows


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="chunks per collection (%(default)s)")
    parser.add_argument("--baseline-up-to", type=int, default=100_000, help="the in-memory index up to this size")
    parser.add_argument("--searches", type=int, default=60, help="timed searches per mode (%(default)s)")
    parser.add_argument("--corpus", type=Path, default=default_corpus(), help="the folder copied (%(default)s)")
    parser.add_argument(
        "--keep", type=Path, help="keep the data folders under this folder, and reuse those a run before kept there"
    )
    parser.add_argument(
        "--chroma-server",
        action="store_true",
        help="replicas use a `chroma run` server on the data folder (written embedded), not embedded Chroma",
    )
    parser.add_argument("--replica", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--chroma-url", help=argparse.SUPPRESS)
    parser.add_argument("--index", choices=INDEXES, help=argparse.SUPPRESS)
    parser.add_argument("--started", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    print("\n".join(["repochat scale benchmark", *environment()]), flush=True)
    corpus = await load_corpus(args.corpus)
    queries = search_queries(corpus, 200)
    QUERIES.write_text(json.dumps(queries))  # noqa: ASYNC240  (once, before any timing)
    rows: list[str] = []
    with contextlib.ExitStack() as stack:
        folder = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="repochat-scale-")))
        for size in (int(s) for s in args.sizes.split(",")):
            data_dir = Path(folder) / f"chunks-{size}"
            if (data_dir / "chroma").exists() and args.keep:
                chunks = await stored_chunks(data_dir)
                shutil.rmtree(data_dir / "keyword", ignore_errors=True)  # the cold replica is a new one
                print(f"{chunks:,} chunks kept in {data_dir} from an earlier run")
            else:
                started = time.perf_counter()
                chunks, repositories = await write_collection(data_dir, corpus, size)
                seconds = time.perf_counter() - started
                print(f"{chunks:,} chunks, {repositories} repositories, written in {seconds:.0f} s")
            with chroma(data_dir, args.chroma_server) as flags:
                rows += measure_replicas(data_dir, chunks, args, flags)
            load = "/".join(f"{x:.2f}" for x in os.getloadavg())
            print(f"load average {load}", flush=True)
    print("\n" + "\n".join(HEADER + rows))


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.replica is None:
        asyncio.run(run(args))
        return
    queries = json.loads(QUERIES.read_text())
    if args.memory:
        figures = asyncio.run(memory_probe(args.replica, args.index, queries, args.chroma_url))
    else:
        replica_run = replica(args.replica, args.index, args.started, queries, args.searches, args.chroma_url)
        figures = asyncio.run(replica_run)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
