"""What a second ref and a fork of a repository cost, side by side with the first ref, against cold indexes.

    python benchmarks/refs.py [--corpus PATH] [--embeddings local|hashing] [--subset FOLDER]

It builds a real git repository with two releases of a docs folder, served by the GitHub-shaped
test server (tests/integration/fake_github.py) on 127.0.0.1:

- `v1`: a copy of the corpus (`--corpus`, else $REPOCHAT_CORPUS, else `shared/corpora/fastapi-docs`
  next to the repository; `--subset tutorial` takes one subfolder of it);
- `v2`: v1 with every 10th page (in path order) edited in one place (a sentence appended to the
  prose line in the middle of the page), every 40th page removed and 3 pages added.

Then it indexes, each through repochat's IndexRepository with the GitHub source, embedded Chroma,
the chunker's code outline, and the embedder wrapped in a counter of calls and texts:

1. ref A: `github:owner/docs@v1` (the first index of the collection: cold);
2. ref B: `github:owner/docs@v2`, which lives beside A (both refs stay searchable): it starts
   from A's manifest, so only the files whose versions differ are fetched and chunked, and the
   vectors of chunks whose text A has are copied, not embedded;
3. a fork of B: `github:fork/docs`, another repository holding v2 (its chunks are its own, but
   their texts are B's, so nothing is embedded);

and, for B and the fork, a cold index of the same ref into a fresh collection. It prints each
index's embedding calls, texts embedded, chunks reused, bytes the GitHub server sent and wall
time, warm and cold, in one run, and checks that A and B are both live afterwards.

The default embedder is the offline model (`local`, about 17 texts/s on 2 shared cores: the full
FastAPI corpus, about 2,400 chunks, costs three cold indexes, about 7 minutes here);
`--embeddings hashing` runs in about 20 seconds and counts the same calls and texts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

import chromadb  # noqa: E402
import httpx  # noqa: E402
from chromadb.api import ClientAPI  # noqa: E402
from chromadb.config import Settings  # noqa: E402
from tests.integration.fake_github import FakeGitHub, GitRepo  # noqa: E402

from adapters.chunking.tree_sitter_outline import TreeSitterOutline  # noqa: E402
from adapters.embeddings.hashing import HashingEmbedder  # noqa: E402
from adapters.embeddings.local import OnnxMiniLMEmbedder  # noqa: E402
from adapters.sources.github import GitHubArchiveSource  # noqa: E402
from adapters.vectorstore.chroma_index import ChromaVectorIndex  # noqa: E402
from adapters.vectorstore.chroma_manifests import ChromaManifestStore  # noqa: E402
from application.indexing import IndexRepository  # noqa: E402
from application.ports.embeddings import Embedder  # noqa: E402
from domain.jobs import IndexRequest, IndexResult  # noqa: E402
from domain.sources import parse_source  # noqa: E402

EDIT_EVERY = 10
"""Every 10th page (in path order) is edited in v2."""
REMOVE_EVERY = 40
"""Every 40th page, counted from the 5th, is removed in v2."""
ADDED_PAGES = 3
PAGE_SUFFIXES = (".md", ".mdx", ".rst")
"""What counts as a page of the docs: Markdown, MDX (Hatchet's docs) and reStructuredText (Python's)."""
WARM = "refs"
"""The collection A, B and the fork are indexed into, one after another."""


def default_corpus() -> Path:
    from_env = os.environ.get("REPOCHAT_CORPUS")
    return Path(from_env) if from_env else ROOT.parent / "shared/corpora/fastapi-docs"


class CountingEmbedder:
    """Any embedder, counting its document calls and texts."""

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self.calls = 0
        self.texts = 0

    @property
    def name(self) -> str:
        return self._inner.name

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        self.texts += len(texts)
        return await self._inner.embed_documents(texts)

    async def embed_query(self, text: str) -> list[float]:
        return await self._inner.embed_query(text)


# ---------------------------------------------------------------- the releases


@dataclass(frozen=True)
class Releases:
    repo: GitRepo
    v2_files: dict[str, bytes]
    pages: int
    edited: int
    removed: int
    added: int


def release_files(corpus: Path) -> dict[str, bytes]:
    return {str(p.relative_to(corpus)): p.read_bytes() for p in sorted(corpus.rglob("*")) if p.is_file()}


def edited(text: str, number: int) -> str:
    """The page with a sentence appended to the prose line nearest its middle (the last line if none)."""
    lines = text.split("\n")
    prose = [i for i, line in enumerate(lines) if line[:1].isalpha()] or [len(lines) - 1]
    middle = prose[len(prose) // 2]
    lines[middle] += f" Release 2 changed this ({number})."
    return "\n".join(lines)


def make_releases(corpus: Path, gh: FakeGitHub) -> Releases:
    files = release_files(corpus)
    repo = gh.create_repo("owner", "docs", files)
    repo.tag("v1")
    pages = [path for path in files if path.endswith(PAGE_SUFFIXES)]
    edits = pages[::EDIT_EVERY]
    removals = [p for p in pages[4::REMOVE_EVERY] if p not in edits]
    changes = {path: edited(files[path].decode(), n).encode() for n, path in enumerate(edits)}
    changes |= {f"release-2/new-page-{n}.md": new_page(n).encode() for n in range(ADDED_PAGES)}
    repo.write(changes)
    if removals:
        repo.delete(*removals)
    repo.commit("release 2")
    repo.tag("v2")
    v2_files = {path: data for path, data in (files | changes).items() if path not in removals}
    return Releases(repo, v2_files, len(pages), len(edits), len(removals), ADDED_PAGES)


def new_page(number: int) -> str:
    return (
        f"# What is new in release 2, part {number}\n\n"
        f"Release 2 brings feature {number}: read about it here.\n\n"
        f"## Upgrading\n\nUpgrade to release 2 with pip, then read part {number} again.\n"
    )


# ---------------------------------------------------------------- indexing


@dataclass(frozen=True)
class Indexed:
    label: str
    result: IndexResult
    calls: int
    texts: int
    seconds: float
    github_bytes: int


def open_chroma(folder: Path) -> ClientAPI:
    return chromadb.PersistentClient(path=str(folder), settings=Settings(anonymized_telemetry=False))


@dataclass(frozen=True)
class Rig:
    """What every index of the run shares: the GitHub server and its client, Chroma, the counting embedder."""

    gh: FakeGitHub
    source: GitHubArchiveSource
    client: ClientAPI
    embedder: CountingEmbedder

    def indexer(self) -> IndexRepository:
        index, manifests = ChromaVectorIndex(self.client), ChromaManifestStore(self.client)
        return IndexRepository([self.source], self.embedder, index, manifests, outline=TreeSitterOutline())


async def index(label: str, rig: Rig, source: str, collection: str = WARM) -> Indexed:
    embedder = rig.embedder
    calls, texts, started = embedder.calls, embedder.texts, time.perf_counter()
    rig.gh.forget_requests()
    result = await rig.indexer().execute(IndexRequest(parse_source(source), collection))
    seconds = time.perf_counter() - started
    print(f"  indexed {label}: {seconds:.1f} s", flush=True)
    return Indexed(label, result, embedder.calls - calls, embedder.texts - texts, seconds, rig.gh.bytes_sent)


async def live_refs(client: ClientAPI) -> list[str]:
    """`ref@commit` of each manifest of owner/docs in the warm collection."""
    entries = await ChromaManifestStore(client).entries(WARM)
    return [f"{m.ref}@{m.commit[:7]}" for _, m in entries if m.repository == "owner/docs"]


# ---------------------------------------------------------------- report


def report_row(warm: Indexed, cold: Indexed | None) -> str:
    r = warm.result
    line = (
        f"{warm.label:30} {r.files_indexed:>5} {r.chunks_written:>7} {warm.calls:>6} {warm.texts:>7} "
        f"{r.chunks_reused:>7} {warm.github_bytes / 1e6:>8.2f} {warm.seconds:>7.1f}"
    )
    if cold is None:
        return line + "   (this first index is the cold one)"
    share = f"{100 * warm.texts / cold.texts:.1f}%" if cold.texts else "-"
    cold_figures = f"{cold.calls:>10} {cold.texts:>7} {cold.github_bytes / 1e6:>8.2f} {cold.seconds:>7.1f}"
    return line + f"   {cold_figures}   {share:>15}"


def report(rows: Sequence[tuple[Indexed, Indexed | None]]) -> list[str]:
    header = (
        f"{'index':30} {'files':>5} {'chunks':>7} {'calls':>6} {'texts':>7} {'reused':>7} {'GitHub MB':>8} "
        f"{'seconds':>7}   {'cold calls':>10} {'texts':>7} {'GitHub MB':>8} {'seconds':>7}   {'texts warm/cold':>15}"
    )
    return [header, *(report_row(warm, cold) for warm, cold in rows)]


async def run(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    corpus = args.corpus / args.subset if args.subset else args.corpus
    inner: Embedder = HashingEmbedder() if args.embeddings == "hashing" else OnnxMiniLMEmbedder()
    embedder = CountingEmbedder(inner)
    with tempfile.TemporaryDirectory(prefix="repochat-refs-") as temp, FakeGitHub(Path(temp) / "git") as gh:
        workspace = Path(temp)
        releases = make_releases(corpus, gh)
        gh.create_repo("fork", "docs", releases.v2_files)
        print(
            f"repochat refs benchmark: {corpus}, embedder {embedder.name}\n"
            f"release v1: {releases.pages} pages; v2: {releases.edited} edited, {releases.removed} removed, "
            f"{releases.added} added",
            flush=True,
        )
        async with httpx.AsyncClient(timeout=60) as http:
            source = GitHubArchiveSource(http, api_url=gh.api_url, extract_dir=workspace)
            rig = Rig(gh, source, open_chroma(workspace / "chroma"), embedder)
            a = await index("ref A (v1)", rig, "github:owner/docs@v1")
            b = await index("ref B (v2) beside A", rig, "github:owner/docs@v2")
            forked = await index("fork of B after A and B", rig, "github:fork/docs")
            live = await live_refs(rig.client)
            cold_b = await index("ref B cold", rig, "github:owner/docs@v2", "cold-b")
            cold_fork = await index("fork cold", rig, "github:fork/docs", "cold-fork")
    print("\n" + "\n".join(report([(a, None), (b, cold_b), (forked, cold_fork)])))
    print(f"\nrefs of owner/docs live after the fork: {', '.join(live)}")
    if len(live) != 2:
        raise SystemExit("expected refs v1 and v2 of owner/docs to be live side by side")
    print(f"total wall time {time.perf_counter() - started:.1f} s")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=default_corpus(), help="docs folder of v1 (%(default)s)")
    parser.add_argument("--subset", default="", help="a subfolder of the corpus to use instead of all of it")
    parser.add_argument("--embeddings", choices=("local", "hashing"), default="local", help="(%(default)s)")
    args = parser.parse_args(argv)
    if not (args.corpus / args.subset).is_dir():
        parser.error(f"corpus folder {args.corpus / args.subset} does not exist (use --corpus or REPOCHAT_CORPUS)")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()
