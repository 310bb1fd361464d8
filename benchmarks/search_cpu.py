"""Search CPU benchmark: the CPU time of one search, by mode, and where the dense leg's goes.

    python benchmarks/search_cpu.py [--chunks 26000] [--searches 100] [--data-dir PATH]

A collection of `--chunks` generated chunks (`benchmarks/scale.py`'s `write_collection`: copies of
FastAPI's docs as repositories, `hashing` vectors, written straight into embedded Chroma) is
searched in process through the container as `repochat serve` builds it. It prints:
- the process CPU ms per search (all threads) over `--searches` searches per mode, after a warm-up
  search (the keyword index catching up);
- the dense leg's candidates read two ways in the same run, over the same 60 nearest chunks of each
  query (k=5: 30 wanted, over-fetched twice): Chroma's query with the records (the baseline: how the
  dense leg read them before), and Chroma's ids and distances with the chunks of the first page
  read from the keyword index (how it reads them now).
- the CPU ms per search by mode of `--baseline-rev` (the search as issue 21 found it) and of this
  checkout on the same collection, each run a process of its own (`search_cpu_revision.py`, from
  a temporary git worktree of the revision), alternating twice, so both see the same machine.
`--data-dir` keeps the collection, so a second run writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import nullcontext
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from application.search import SearchRequest  # noqa: E402
from benchmarks.indexing import default_corpus, environment, load_corpus, search_queries  # noqa: E402
from benchmarks.scale import COLLECTION, settings, write_collection  # noqa: E402
from domain.retrieval import RetrievalMode  # noqa: E402
from entrypoints.container import Container, running  # noqa: E402

BASELINE_REVISION = "396f3d1^"
"""The search as issue 21 found it (16 ms per hybrid search at 26k chunks then), before its item 5 work."""
CANDIDATES = 60
PAGE = 30


async def cpu_ms(calls: Sequence[Callable[[], Awaitable[object]]]) -> float:
    """The process CPU ms per call, all threads."""
    started = time.process_time()
    for call in calls:
        await call()
    return 1000 * (time.process_time() - started) / len(calls)


async def measure(data_dir: Path, queries: Sequence[str]) -> None:
    container = Container(settings=settings(data_dir), process_name="repochat search CPU benchmark")
    async with running(container):
        search = container.search()
        await search.execute(SearchRequest(queries[0], 5, COLLECTION))

        def searching(query: str, mode: RetrievalMode) -> Callable[[], Awaitable[object]]:
            async def call() -> object:
                container.query_embedder.reset()
                return await search.execute(SearchRequest(query, 5, COLLECTION, mode=mode))

            return call

        for mode in RetrievalMode:
            figure = await cpu_ms([searching(q, mode) for q in queries])
            print(f"{mode.value:8} search: {figure:.2f} CPU ms per search")

        embedder, keywords = container.query_embedder(), container.keyword_index()
        live = {m.repository: m for _, m in await container.manifests().entries(COLLECTION)}
        chroma = container.chroma_client().get_collection(COLLECTION)
        vectors = [np.asarray([await embedder.embed_query(q)], dtype=np.float32) for q in queries]

        def with_records(vector: np.ndarray) -> Callable[[], Awaitable[object]]:
            async def call() -> object:
                include = ["documents", "metadatas", "distances"]
                return await asyncio.to_thread(
                    chroma.query, query_embeddings=vector, n_results=CANDIDATES, include=include
                )

            return call

        def ids_then_chunks(vector: np.ndarray) -> Callable[[], Awaitable[object]]:
            async def call() -> object:
                found = await asyncio.to_thread(
                    chroma.query, query_embeddings=vector, n_results=CANDIDATES, include=["distances"]
                )
                return await keywords.chunks(COLLECTION, found["ids"][0][:PAGE], live)

            return call

        before = await cpu_ms([with_records(v) for v in vectors])
        after = await cpu_ms([ids_then_chunks(v) for v in vectors])
        print(f"dense candidates, Chroma's records (baseline): {before:.2f} CPU ms per search")
        print(f"dense candidates, ids + keyword index chunks:  {after:.2f} CPU ms per search ({after / before:.2f}x)")


def revision_ms(root: Path, data_dir: Path, queries: Path) -> dict[str, float]:
    """CPU ms per search by mode of the code at `root`, in a process of its own (`search_cpu_revision.py`)."""
    script = Path(__file__).with_name("search_cpu_revision.py")
    found = subprocess.run(
        [sys.executable, str(script), str(root), str(data_dir), str(queries)],
        check=True,
        capture_output=True,
        text=True,
        env=os.environ | {"HF_HUB_OFFLINE": "1"},
    )
    figures: dict[str, float] = json.loads(found.stdout.strip().splitlines()[-1])
    return figures


def compare_with(revision: str, data_dir: Path, queries: Sequence[str]) -> None:
    """This checkout's search against `revision`'s on the same collection, alternating twice, each run a process."""
    with tempfile.TemporaryDirectory(prefix="repochat-cpu-rev-") as folder:
        tree, listed = Path(folder, "tree"), Path(folder, "queries.json")
        listed.write_text(json.dumps(list(queries)))
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), revision], check=True)
        try:
            runs = [
                (name, revision_ms(root, data_dir, listed))
                for _ in range(2)
                for name, root in (("then", tree), ("now", ROOT))
            ]
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=True)
    for mode in RetrievalMode:
        then = [figures[mode.value] for name, figures in runs if name == "then"]
        now = [figures[mode.value] for name, figures in runs if name == "now"]
        ratios = " / ".join(f"{n / t:.2f}x" for t, n in zip(then, now, strict=True))
        print(
            f"{mode.value:8} search at {revision} (baseline): {' / '.join(f'{t:.2f}' for t in then)} CPU ms, "
            f"now {' / '.join(f'{n:.2f}' for n in now)} ({ratios})"
        )


async def run(args: argparse.Namespace) -> None:
    print("\n".join(["repochat search CPU benchmark", *environment()]), flush=True)
    corpus = await load_corpus(default_corpus())
    queries = search_queries(corpus, args.searches)
    kept = nullcontext(str(args.data_dir)) if args.data_dir else tempfile.TemporaryDirectory(prefix="repochat-cpu-")
    with kept as folder:
        data_dir = Path(folder)
        if not (data_dir / "chroma").exists():
            chunks, repositories = await write_collection(data_dir, corpus, args.chunks)
            print(f"{chunks:,} chunks in {repositories} repositories")
        await measure(data_dir, queries)
        if args.baseline_rev:
            compare_with(args.baseline_rev, data_dir, queries)
    print("load average " + "/".join(f"{x:.2f}" for x in os.getloadavg()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=26_000, help="chunks in the collection (%(default)s)")
    parser.add_argument("--searches", type=int, default=100, help="searches per mode (%(default)s)")
    parser.add_argument("--data-dir", type=Path, help="keep the collection here (reused when it exists)")
    parser.add_argument(
        "--baseline-rev",
        default=BASELINE_REVISION,
        help="also measure the search of this git revision on the same collection, each run a process of its "
        "own, alternating with this checkout's (%(default)s; '' skips it)",
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
