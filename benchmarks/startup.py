"""Start-up benchmark: how long `repochat` takes before it does anything, and its first answers.

    python benchmarks/startup.py [--data-dir DIR] [--collection C] [--query Q] [--runs 3]

Each figure is a fresh process (`python -c "from entrypoints.cli import main; main()"`, what the
`repochat` script runs), the median of `--runs`:
- `repochat --help`, process start to exit;
- importing each heavy module alone (the part of any command that needs it);
- `repochat search QUERY` end to end, when `--data-dir` holds an index (its settings come from the
  environment: REPOCHAT_EMBEDDINGS and friends, as a user runs it);
- `repochat mcp` over stdio as a coding agent starts it: process start to its answer to
  `initialize`, and to its first `search_docs` answer.
Without `--data-dir`, FastAPI's docs (`--corpus`) are indexed first into a temporary data folder
with the `hashing` embedder, so the search figures leave the model out; give the data folder of
an index made with the offline model to include loading it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from benchmarks.indexing import default_corpus, environment  # noqa: E402

CLI = "from entrypoints.cli import main; main()"
HEAVY_MODULES = (
    "entrypoints.cli",
    "entrypoints.container",
    "chromadb",
    "fastapi",
    "dependency_injector.containers",
    "onnxruntime",
    "tantivy",
    "mcp.server.mcpserver",
)


def child_env(data_dir: Path | None, embeddings: str | None) -> dict[str, str]:
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    if data_dir is not None:
        env["REPOCHAT_DATA_DIR"] = str(data_dir)
    if embeddings is not None:
        env["REPOCHAT_EMBEDDINGS"] = embeddings
    return env


def timed(command: Sequence[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def median_of(runs: int, measure: Any) -> float:
    return statistics.median(measure() for _ in range(runs))


def _send(pipe: IO[bytes], message: dict[str, Any]) -> None:
    pipe.write((json.dumps(message) + "\n").encode())
    pipe.flush()


def _answer(pipe: IO[bytes], request_id: int) -> dict[str, Any]:
    while True:
        line = pipe.readline()
        if not line:
            raise SystemExit("repochat mcp ended before answering")
        message: dict[str, Any] = json.loads(line)
        if message.get("id") == request_id:
            return message


def mcp_session(env: dict[str, str], query: str, collection: str) -> tuple[float, float]:
    """Seconds from process start to the answer to `initialize`, and to the first `search_docs` answer."""
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-c", CLI, "mcp"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        client = {"name": "startup-benchmark", "version": "1"}
        params = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": client}
        _send(server.stdin, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params})
        _answer(server.stdout, 1)
        initialized = time.perf_counter() - started
        _send(server.stdin, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        arguments = {"query": query, "collection": collection}
        call = {"name": "search_docs", "arguments": arguments}
        _send(server.stdin, {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": call})
        found = _answer(server.stdout, 2)
        if found.get("error") or found["result"].get("isError"):
            raise SystemExit(f"search_docs failed: {found}")
        return initialized, time.perf_counter() - started
    finally:
        server.stdin.close()
        server.wait(timeout=30)


def index_corpus(corpus: Path, collection: str, env: dict[str, str]) -> None:
    command = [sys.executable, "-c", CLI, "index", str(corpus), "--collection", collection]
    subprocess.run(command, env=env, check=True, capture_output=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, help="a data folder holding an index (default: index --corpus)")
    parser.add_argument("--corpus", type=Path, default=default_corpus(), help="indexed without --data-dir")
    parser.add_argument("--collection", default="default")
    parser.add_argument("--query", default="How do I declare a path parameter?")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure, the median printed (%(default)s)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    print("\n".join(["repochat start-up benchmark", *environment()]), flush=True)
    rows: list[tuple[str, float]] = []
    bare = child_env(None, None)
    rows.append(("repochat --help", median_of(args.runs, lambda: timed([sys.executable, "-c", CLI, "--help"], bare))))
    for module in HEAVY_MODULES:
        importing = [sys.executable, "-c", f"import {module}"]
        rows.append((f"import {module}", median_of(args.runs, lambda command=importing: timed(command, bare))))
    with tempfile.TemporaryDirectory(prefix="repochat-startup-") as folder:
        data_dir, embeddings = args.data_dir, None
        if data_dir is None:
            data_dir, embeddings = Path(folder), "hashing"
            index_corpus(args.corpus, args.collection, child_env(data_dir, embeddings))
        env = child_env(data_dir, embeddings)
        search = [sys.executable, "-c", CLI, "search", args.query, "--collection", args.collection]
        rows.append(("repochat search, end to end", median_of(args.runs, lambda: timed(search, env))))
        sessions = [mcp_session(env, args.query, args.collection) for _ in range(args.runs)]
        rows.append(("repochat mcp: start to `initialize` answered", statistics.median(s[0] for s in sessions)))
        rows.append(("repochat mcp: start to first `search_docs` answered", statistics.median(s[1] for s in sessions)))
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average {load}\n\n| what | seconds (median of {args.runs}) |\n|---|---|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
