"""How much a GitHub sync costs: repochat's archive + SHA sync versus a per-file crawler.

Runs everything on 127.0.0.1 against tests/integration/fake_github.py, serving a generated git
repository of 2,000 text files (markdown and code). For each run it prints the HTTP requests
made, the response bytes the server sent, and the wall time.

- repochat: GitHubArchiveSource + IndexRepository, hashing embedder, embedded Chroma in a
  temporary folder: first index, no-change re-sync, and a re-sync after one file changed.
  "crawl only" reads every file through the adapter without embedding, to compare like with like.
- per-file crawler: what the LangChain GitHub loader tutorial and LlamaIndex's
  GithubRepositoryReader do: list the tree, then one GET per file (`git/blobs/{sha}`, base64
  JSON), with the same file filter and the same concurrency (8). It keeps no sync state, so
  a re-sync costs as much as the first crawl.

Usage: python benchmarks/github_sync.py [--files 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

import chromadb  # noqa: E402
import httpx  # noqa: E402
from chromadb.config import Settings as ChromaSettings  # noqa: E402
from tests.integration.fake_github import FakeGitHub  # noqa: E402

from adapters.chunking.tree_sitter_outline import TreeSitterOutline  # noqa: E402
from adapters.embeddings.hashing import HashingEmbedder  # noqa: E402
from adapters.sources.github import GitHubArchiveSource  # noqa: E402
from adapters.vectorstore.chroma_index import ChromaVectorIndex  # noqa: E402
from adapters.vectorstore.chroma_manifests import ChromaManifestStore  # noqa: E402
from application.indexing import IndexRepository  # noqa: E402
from domain.file_policy import FilePolicy  # noqa: E402
from domain.jobs import IndexRequest  # noqa: E402
from domain.sources import parse_source  # noqa: E402

WORDS = (
    "index", "repository", "chunk", "embedding", "vector", "search", "answer", "citation", "commit", "branch",
    "archive", "manifest", "request", "token", "limit", "retry", "backoff", "server", "client", "worker",
    "queue", "job", "stage", "progress", "collection",
)  # fmt: skip


def generate_files(count: int, seed: int = 42) -> dict[str, str | bytes]:
    """Markdown guides (60%) and Python modules (40%) of 1-5 KB, in nested folders."""
    rng = random.Random(seed)
    files: dict[str, str | bytes] = {"README.md": "# Benchmark repository\n\nGenerated text.\n"}
    for i in range(count - 1):
        folder = f"part{i % 20:02d}/section{i % 7}"
        if i % 5 < 3:
            sections = [
                f"## Topic {j}\n\n" + " ".join(rng.choices(WORDS, k=rng.randint(60, 160))) + "\n"
                for j in range(rng.randint(2, 5))
            ]
            files[f"docs/{folder}/guide_{i}.md"] = f"# Guide {i}\n\n" + "\n".join(sections)
        else:
            functions = [
                f"def {rng.choice(WORDS)}_{i}_{j}(value: int) -> int:\n"
                f'    """{" ".join(rng.choices(WORDS, k=12))}."""\n'
                f"    return value * {j} + {rng.randint(1, 99)}\n"
                for j in range(rng.randint(8, 30))
            ]
            files[f"src/{folder}/module_{i}.py"] = "\n\n".join(functions)
    return files


@dataclass
class Row:
    name: str
    requests: int
    bytes_sent: int
    seconds: float
    note: str = ""


async def measure(gh: FakeGitHub, name: str, run: Callable[[], Awaitable[str]]) -> Row:
    gh.forget_requests()
    start = time.perf_counter()
    note = await run()
    seconds = time.perf_counter() - start
    return Row(name, len(gh.requests), gh.bytes_sent, seconds, note)


async def per_file_crawl(client: httpx.AsyncClient, api: str, repo: str, ref: str) -> str:
    """List the tree, then GET every wanted blob: one request per file."""
    tree = (await client.get(f"{api}/repos/{repo}/git/trees/{ref}", params={"recursive": "1"})).json()
    policy = FilePolicy()
    wanted = [i for i in tree["tree"] if i["type"] == "blob" and policy.check(i["path"], i["size"]) is None]
    gate = asyncio.Semaphore(8)

    async def fetch(sha: str) -> int:
        async with gate:
            blob = (await client.get(f"{api}/repos/{repo}/git/blobs/{sha}")).json()
            return len(base64.b64decode(blob["content"]))

    sizes = await asyncio.gather(*(fetch(item["sha"]) for item in wanted))
    return f"{len(sizes)} files, {sum(sizes):,} bytes of content"


async def main(file_count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="repochat-bench-") as folder:
        tmp = Path(folder)
        with FakeGitHub(tmp / "git") as gh:
            started = time.perf_counter()
            repo = gh.create_repo("bench", "docs", generate_files(file_count))
            print(f"generated a git repository of {file_count:,} files in {time.perf_counter() - started:.1f} s")
            chroma = chromadb.PersistentClient(str(tmp / "chroma"), settings=ChromaSettings(anonymized_telemetry=False))
            embedder = HashingEmbedder()
            async with httpx.AsyncClient(timeout=60) as client:
                source = GitHubArchiveSource(client, api_url=gh.api_url)
                index, manifests = ChromaVectorIndex(chroma), ChromaManifestStore(chroma)
                use_case = IndexRepository([source], embedder, index, manifests, outline=TreeSitterOutline())
                request = IndexRequest(parse_source("bench/docs"))

                async def index() -> str:
                    embedder.calls = 0
                    result = await use_case.execute(request)
                    return (
                        f"{result.files_indexed} indexed, {result.files_unchanged} unchanged, "
                        f"{result.chunks_written} chunks, {embedder.calls} embedding calls"
                    )

                async def crawl_only() -> str:
                    crawler = GitHubArchiveSource(client, api_url=gh.api_url)
                    spec = parse_source("bench/docs")
                    snapshot = await crawler.snapshot(spec, None)
                    files = snapshot.files or ()
                    size = sum([len(f.text) async for f in crawler.read(spec, snapshot.version, files)])
                    return f"{len(files)} files, {size:,} characters read"

                def change_one_file() -> None:
                    path = next(p for p in sorted(repo.path.glob("docs/**/*.md")))
                    repo.commit("edit", {str(path.relative_to(repo.path)): "# Changed\n\nOne edited guide.\n"})

                rows = [await measure(gh, "repochat: first index (crawl + embed + store)", index)]
                rows.append(await measure(gh, "repochat: no-change re-sync", index))
                change_one_file()
                rows.append(await measure(gh, "repochat: re-sync after 1 file changed", index))
                rows.append(await measure(gh, "repochat: crawl only (snapshot + read)", crawl_only))
                head = repo.head()
                crawl = lambda: per_file_crawl(client, gh.api_url, "bench/docs", head)  # noqa: E731
                rows.append(await measure(gh, "per-file crawler: first crawl", crawl))
                rows.append(await measure(gh, "per-file crawler: re-sync (no state)", crawl))
    print_table(rows)


def print_table(rows: list[Row]) -> None:
    width = max(len(row.name) for row in rows)
    print(f"\n{'run':<{width}}  {'requests':>8}  {'bytes sent':>12}  {'wall s':>7}  detail")
    print(f"{'-' * width}  {'-' * 8}  {'-' * 12}  {'-' * 7}  {'-' * 6}")
    for row in rows:
        print(f"{row.name:<{width}}  {row.requests:>8,}  {row.bytes_sent:>12,}  {row.seconds:>7.2f}  {row.note}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    asyncio.run(main(parser.parse_args().files))
