"""Indexing and search benchmark: repochat against the LangChain tutorial pipeline, in one run.

    python benchmarks/indexing.py [--corpus PATH] [--queries 200] [--repeats 3] [--skip-model]
                                  [--model-subset tutorial] [--model-sample 256]

The corpus is `--corpus`, else $REPOCHAT_CORPUS, else `shared/corpora/fastapi-docs` next to
the repository. Every figure is measured in this process, each index in a fresh embedded
Chroma under a temporary folder:

1. repochat's IndexRepository (local folder source, HashingEmbedder, Chroma index + manifests);
2. the tutorial baseline on the same files: RecursiveCharacterTextSplitter(1000, 200), the same
   HashingEmbedder, `collection.add` in batches of repochat's embedding-call size;
3. a no-change re-index with repochat (must make no embedding call);
4. search latency: SearchDocuments on repochat's index and a raw `collection.query` on the baseline's;
5. unless --skip-model, the offline ONNX model: alone (texts/s) on a sample of chunks, fed naively
   (in order, batches of 32, onnxruntime's default session, the graph as exported) and as repochat's
   OnnxMiniLMEmbedder feeds it (runs of similar token length, tuned session, no NaN guards), both in
   calls of repochat's size timed alternately; then repochat's full index rate with it.

Indexing rows are the median of --repeats runs (alternating which pipeline goes first).
The two pipelines chunk differently, so files/s is the like-for-like rate; chunks/s is per own chunk.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import TypeVar

import chromadb
import numpy as np
from chromadb.api import ClientAPI
from chromadb.config import Settings
from langchain_text_splitters import RecursiveCharacterTextSplitter

from adapters.chunking.tree_sitter_outline import TreeSitterOutline
from adapters.embeddings.hashing import HashingEmbedder
from adapters.embeddings.local import MAX_TOKENS, MODEL_NAME, OnnxMiniLMEmbedder, mean_pooled, packaged_model_files
from adapters.keyword.tantivy_index import TantivyKeywordIndex
from adapters.sources.local_folder import LocalFolderSource
from adapters.vectorstore.chroma_index import ChromaVectorIndex
from adapters.vectorstore.chroma_manifests import ChromaManifestStore
from application.indexing import IndexRepository
from application.ports.embeddings import Embedder
from application.search import SearchDocuments, SearchRequest
from domain.chunking import chunk_file, embedding_text
from domain.documents import Chunk, FileEntry
from domain.jobs import IndexRequest, IndexResult
from domain.sources import SourceSpec
from entrypoints.source_input import source_spec

T = TypeVar("T")
COLLECTION = "bench"
TEXTS_PER_CALL = 64
"""repochat's embedding call (and upsert) size; the baseline embeds and adds in batches of the same size."""
SEARCH_K = 5
MODEL_WARMUP = 8
NAIVE_BATCH = 32
"""The naive feed's batch size (that of repochat's embedder before it ran texts by token length)."""
WARMUP_QUERIES = 5


# ---------------------------------------------------------------- figures


@dataclass(frozen=True)
class Clock:
    """Wall time, and the CPU time of this process (all its threads): the machine may be shared."""

    seconds: float
    cpu_seconds: float


@dataclass(frozen=True)
class Rate:
    files: int
    chunks: int
    seconds: float
    cpu_seconds: float

    @property
    def files_per_s(self) -> float:
        return self.files / self.seconds

    @property
    def chunks_per_s(self) -> float:
        return self.chunks / self.seconds


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p95_ms: float
    mean_ms: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        cuts = statistics.quantiles(seconds, n=100, method="inclusive")
        return cls(cuts[49] * 1000, cuts[94] * 1000, statistics.fmean(seconds) * 1000)


def median_rate(rates: Sequence[Rate]) -> Rate:
    return sorted(rates, key=lambda r: r.seconds)[len(rates) // 2]


async def timed(action: Callable[[], Awaitable[T]]) -> tuple[T, Clock]:
    start, start_cpu = time.perf_counter(), time.process_time()
    value = await action()
    return value, Clock(time.perf_counter() - start, time.process_time() - start_cpu)


# ---------------------------------------------------------------- corpus


def default_corpus() -> Path:
    from_env = os.environ.get("REPOCHAT_CORPUS")
    if from_env:
        return Path(from_env)
    return Path(__file__).resolve().parents[2] / "shared/corpora/fastapi-docs"


@dataclass(frozen=True)
class Corpus:
    spec: SourceSpec
    root: Path
    entries: tuple[FileEntry, ...]
    chunks: tuple[Chunk, ...]
    """repochat's chunks of the corpus, made outside any timing (query and model samples)."""

    @property
    def total_bytes(self) -> int:
        return sum(entry.size for entry in self.entries)


async def load_corpus(folder: Path) -> Corpus:
    """The file set repochat's source lists (its file policy), read and chunked once."""
    spec = source_spec(str(folder))
    source = LocalFolderSource()
    snapshot = await source.snapshot(spec, None)
    entries = snapshot.files or ()
    outline = TreeSitterOutline()
    chunks = [
        chunk
        async for file in source.read(spec, snapshot.version, entries)
        for chunk in chunk_file(file, "bench", "bench", outline.symbols(file.path, file.text))
    ]
    return Corpus(spec, Path(spec.location), entries, tuple(chunks))


def search_queries(corpus: Corpus, count: int) -> list[str]:
    """The corpus' section headings (what people search for), shuffled with a fixed seed and cycled to `count`."""
    headings = sorted({c.headings[-1] for c in corpus.chunks if c.headings and len(c.headings[-1].split()) >= 2})
    if not headings:
        headings = sorted({c.path for c in corpus.chunks})
    random.Random(0).shuffle(headings)
    return [headings[i % len(headings)] for i in range(count)]


def sample_texts(chunks: Sequence[Chunk], count: int) -> list[str]:
    """`count` of repochat's embedding texts spread evenly over the chunks (all of them if fewer)."""
    if len(chunks) <= count:
        return [embedding_text(c) for c in chunks]
    return [embedding_text(chunks[i * len(chunks) // count]) for i in range(count)]


# ---------------------------------------------------------------- chroma


def open_chroma(folder: str) -> ClientAPI:
    return chromadb.PersistentClient(path=folder, settings=Settings(anonymized_telemetry=False))


# ---------------------------------------------------------------- repochat


@dataclass(frozen=True)
class Repochat:
    indexer: IndexRepository
    search: SearchDocuments
    request: IndexRequest


def build_repochat(client: ClientAPI, embedder: Embedder, spec: SourceSpec) -> Repochat:
    index, manifests = ChromaVectorIndex(client), ChromaManifestStore(client)
    indexer = IndexRepository([LocalFolderSource()], embedder, index, manifests, outline=TreeSitterOutline())
    return Repochat(
        indexer, SearchDocuments(embedder, index, manifests, TantivyKeywordIndex(index)), IndexRequest(spec, COLLECTION)
    )


async def repochat_index(repochat: Repochat) -> tuple[Rate, IndexResult]:
    result, clock = await timed(lambda: repochat.indexer.execute(repochat.request))
    return Rate(result.files_indexed, result.chunks_written, clock.seconds, clock.cpu_seconds), result


async def search_latency(repochat: Repochat, queries: Sequence[str]) -> Latency:
    for query in queries[:WARMUP_QUERIES]:
        await repochat.search.execute(SearchRequest(query, SEARCH_K, COLLECTION))
    seconds: list[float] = []
    for query in queries:
        start = time.perf_counter()
        await repochat.search.execute(SearchRequest(query, SEARCH_K, COLLECTION))
        seconds.append(time.perf_counter() - start)
    return Latency.of(seconds)


# ---------------------------------------------------------------- baseline (LangChain tutorial)


@dataclass(frozen=True)
class Split:
    ids: list[str]
    texts: list[str]
    metadatas: list[dict[str, str | int]]


def load_and_split(root: Path, entries: Sequence[FileEntry]) -> Split:
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
    texts = [(root / entry.path).read_text(encoding="utf-8") for entry in entries]
    documents = splitter.create_documents(texts, metadatas=[{"source": entry.path} for entry in entries])
    return Split(
        ids=[f"{d.metadata['source']}#{d.metadata['start_index']}" for d in documents],
        texts=[d.page_content for d in documents],
        metadatas=[dict(d.metadata) for d in documents],
    )


async def baseline_index(client: ClientAPI, embedder: Embedder, corpus: Corpus) -> Rate:
    async def run() -> int:
        collection = await asyncio.to_thread(
            client.create_collection, COLLECTION, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
        )
        split = await asyncio.to_thread(load_and_split, corpus.root, corpus.entries)
        for start in range(0, len(split.ids), TEXTS_PER_CALL):
            end = start + TEXTS_PER_CALL
            vectors = await embedder.embed_documents(split.texts[start:end])
            await asyncio.to_thread(
                collection.add,
                ids=split.ids[start:end],
                embeddings=np.asarray(vectors, dtype=np.float32),
                documents=split.texts[start:end],
                metadatas=split.metadatas[start:end],  # type: ignore[arg-type]
            )
        return len(split.ids)

    chunks, clock = await timed(run)
    return Rate(len(corpus.entries), chunks, clock.seconds, clock.cpu_seconds)


async def baseline_latency(client: ClientAPI, embedder: Embedder, queries: Sequence[str]) -> Latency:
    """Raw `collection.query` time; the query vectors are made beforehand."""
    collection = client.get_collection(COLLECTION)
    vectors = [np.asarray([await embedder.embed_query(q)], dtype=np.float32) for q in queries]

    def query(vector: np.ndarray) -> float:
        start = time.perf_counter()
        collection.query(query_embeddings=vector, n_results=SEARCH_K, include=["documents", "metadatas", "distances"])
        return time.perf_counter() - start

    for vector in vectors[:WARMUP_QUERIES]:
        query(vector)
    return Latency.of([query(vector) for vector in vectors])


# ---------------------------------------------------------------- hashing-embedder section


@dataclass(frozen=True)
class HashingFigures:
    repochat: Rate
    baseline: Rate
    reindex_seconds: float
    reindex: IndexResult
    reindex_embedder_calls: int
    search: Latency
    raw_query: Latency


class CountingEmbedder(HashingEmbedder):
    """HashingEmbedder that counts its document batches, to check the re-index embeds nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        return await super().embed_documents(texts)


async def one_round(corpus: Corpus, workspace: Path, round_no: int) -> tuple[Rate, Rate, Repochat, CountingEmbedder]:
    """Both pipelines once, each into its own fresh Chroma; odd rounds run the baseline first."""
    embedder = CountingEmbedder()
    repochat = build_repochat(open_chroma(str(workspace / f"repochat-{round_no}")), embedder, corpus.spec)
    baseline_client = open_chroma(str(workspace / f"baseline-{round_no}"))
    if round_no % 2:
        baseline = await baseline_index(baseline_client, HashingEmbedder(), corpus)
        ours, _ = await repochat_index(repochat)
    else:
        ours, _ = await repochat_index(repochat)
        baseline = await baseline_index(baseline_client, HashingEmbedder(), corpus)
    return ours, baseline, repochat, embedder


async def hashing_section(corpus: Corpus, workspace: Path, repeats: int, queries: Sequence[str]) -> HashingFigures:
    ours: list[Rate] = []
    theirs: list[Rate] = []
    for round_no in range(repeats):
        rate, baseline, repochat, embedder = await one_round(corpus, workspace, round_no)
        ours.append(rate)
        theirs.append(baseline)
    calls_before = embedder.calls
    again, reindex = await repochat_index(repochat)
    search = await search_latency(repochat, queries)
    raw = await baseline_latency(open_chroma(str(workspace / f"baseline-{repeats - 1}")), HashingEmbedder(), queries)
    return HashingFigures(
        median_rate(ours), median_rate(theirs), again.seconds, reindex, embedder.calls - calls_before, search, raw
    )


# ---------------------------------------------------------------- offline-model section


class NaiveOnnxEmbedder(Embedder):
    """The offline model fed naively: texts in the order given, batches of NAIVE_BATCH padded to their
    longest, onnxruntime's default session on the graph as exported. The baseline of the model figures."""

    def __init__(self) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        files = packaged_model_files()
        self._tokenizer = Tokenizer.from_file(str(files.tokenizer))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding()
        self._session = onnxruntime.InferenceSession(str(files.model), providers=["CPUExecutionProvider"])

    @property
    def name(self) -> str:
        return f"{MODEL_NAME}-naive"

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._embed, list(texts))

    async def embed_query(self, text: str) -> list[float]:
        return (await self.embed_documents([text]))[0]

    def _embed(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), NAIVE_BATCH):
            encodings = self._tokenizer.encode_batch(texts[start : start + NAIVE_BATCH])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            vectors += mean_pooled(self._session.run(None, feeds)[0], mask).tolist()
        return vectors


@dataclass(frozen=True)
class ModelFigures:
    subset: str
    sample: int
    naive: Clock
    repochat: Clock
    vector_difference: float
    """The largest difference between the two feeds' vectors of one text: both embed the same."""
    full: Rate
    calls: int


async def feed_alternately(
    embedders: Sequence[Embedder], texts: Sequence[str]
) -> list[tuple[Clock, list[list[float]]]]:
    """Each embedder's clock and vectors over `texts` in calls of TEXTS_PER_CALL, the embedders taking turns
    call by call, so a change of load on the shared machine falls on all of them alike."""
    seconds = [0.0] * len(embedders)
    cpu_seconds = [0.0] * len(embedders)
    vectors: list[list[list[float]]] = [[] for _ in embedders]
    for start in range(0, len(texts), TEXTS_PER_CALL):
        call = texts[start : start + TEXTS_PER_CALL]
        for position, embedder in enumerate(embedders):
            call_vectors, clock = await timed(partial(embedder.embed_documents, call))
            seconds[position] += clock.seconds
            cpu_seconds[position] += clock.cpu_seconds
            vectors[position] += call_vectors
    return [(Clock(seconds[i], cpu_seconds[i]), vectors[i]) for i in range(len(embedders))]


async def model_section(corpus: Corpus, workspace: Path, subset: str, sample: int) -> ModelFigures:
    target = await load_corpus(corpus.root / subset) if subset else corpus
    texts = sample_texts(target.chunks, sample)
    naive, embedder = NaiveOnnxEmbedder(), OnnxMiniLMEmbedder()
    for warming in (naive, embedder):
        await warming.embed_documents(texts[:MODEL_WARMUP])  # loads the session and warms it up
    (naive_clock, naive_vectors), (clock, vectors) = await feed_alternately([naive, embedder], texts)
    difference = float(np.abs(np.asarray(naive_vectors) - np.asarray(vectors)).max())
    repochat = build_repochat(open_chroma(str(workspace / "model")), embedder, target.spec)
    full, result = await repochat_index(repochat)
    return ModelFigures(subset or ".", len(texts), naive_clock, clock, difference, full, result.embedding_calls)


# ---------------------------------------------------------------- report


def environment() -> list[str]:
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"cpu cores        {cores} (usable by this process: {usable}), load average {load}",
        f"python           {platform.python_version()} ({platform.platform()})",
        f"chromadb         {chromadb.__version__}",
        f"text splitters   langchain-text-splitters {version('langchain-text-splitters')}",
        f"onnxruntime      {version('onnxruntime')}",
    ]


def row(label: str, rate: Rate) -> str:
    return (
        f"  {label:<44} {rate.files:>6} {rate.chunks:>7} {rate.seconds:>9.3f} {rate.cpu_seconds:>7.2f} "
        f"{rate.files_per_s:>9.1f} {rate.chunks_per_s:>10.1f}"
    )


def hashing_report(figures: HashingFigures, repeats: int, queries: int) -> list[str]:
    ours, theirs, again = figures.repochat, figures.baseline, figures.reindex
    header = f"  {'':<44} {'files':>6} {'chunks':>7} {'seconds':>9} {'cpu s':>7} {'files/s':>9} {'chunks/s':>10}"
    return [
        f"indexing with HashingEmbedder ({HashingEmbedder().name}), embedded Chroma, median of {repeats}",
        header,
        row("repochat IndexRepository", ours),
        row(f"baseline splitter(1000,200) + add({TEXTS_PER_CALL})", theirs),
        f"  {'ratio repochat / baseline':<44} {'':>6} {'':>7} {ours.seconds / theirs.seconds:>8.2f}x "
        f"{ours.cpu_seconds / theirs.cpu_seconds:>6.2f}x "
        f"{ours.files_per_s / theirs.files_per_s:>8.2f}x {ours.chunks_per_s / theirs.chunks_per_s:>9.2f}x",
        "",
        "no-change re-index with repochat",
        f"  {again.files_unchanged} files unchanged, {again.files_indexed} indexed, "
        f"{again.chunks_written} chunks written in {figures.reindex_seconds * 1000:.1f} ms; "
        f"IndexResult.embedding_calls={again.embedding_calls}, embedder calls={figures.reindex_embedder_calls}",
        "",
        f"search latency, {queries} queries (corpus headings), k={SEARCH_K}   p50 ms   p95 ms  mean ms",
        latency_row("repochat SearchDocuments (embed + query + live filter)", figures.search),
        latency_row("baseline raw collection.query", figures.raw_query),
    ]


def latency_row(label: str, latency: Latency) -> str:
    return f"  {label:<60} {latency.p50_ms:>7.2f}  {latency.p95_ms:>7.2f}  {latency.mean_ms:>7.2f}"


def model_report(figures: ModelFigures) -> list[str]:
    full, naive, ours = figures.full, figures.naive, figures.repochat
    texts = figures.sample

    def clock_row(label: str, count: int, clock: Clock) -> str:
        return (
            f"  {label:<52} {count:>6} {clock.seconds:>9.3f} {clock.cpu_seconds:>7.2f} "
            f"{count / clock.seconds:>9.1f} {count / clock.cpu_seconds:>12.1f}"
        )

    full_clock = Clock(full.seconds, full.cpu_seconds)
    return [
        f"offline model (all-MiniLM-L6-v2 int8, onnxruntime), subset {figures.subset!r}",
        f"  {'':<52} {'texts':>6} {'seconds':>9} {'cpu s':>7} {'texts/s':>9} {'texts/cpu-s':>12}",
        clock_row(f"model alone, naive: in order, batches of {NAIVE_BATCH}, defaults", texts, naive),
        clock_row("model alone, repochat's OnnxMiniLMEmbedder", texts, ours),
        f"  {'ratio repochat / naive':<52} {'':>6} {'':>9} {'':>7} "
        f"{naive.seconds / ours.seconds:>8.2f}x {naive.cpu_seconds / ours.cpu_seconds:>11.2f}x",
        f"  (both in calls of {TEXTS_PER_CALL}, timed alternately; their vectors differ by at most "
        f"{figures.vector_difference:.1e})",
        clock_row(f"repochat full index, calls of {TEXTS_PER_CALL}", full.chunks, full_clock),
        f"  {'ratio full index / repochat model alone':<52} {'':>6} {'':>9} {'':>7} "
        f"{full.chunks_per_s * ours.seconds / texts:>8.2f}x "
        f"{full.chunks / full.cpu_seconds * ours.cpu_seconds / texts:>11.2f}x",
        f"  repochat full index: {full.files} files, {figures.calls} embedding calls, "
        f"{full.files_per_s:.2f} files/s, {full.chunks_per_s:.1f} chunks/s",
    ]


# ---------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=default_corpus(), help="folder to index (%(default)s)")
    parser.add_argument("--queries", type=int, default=200, help="search queries to time (%(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="indexing runs per pipeline (%(default)s)")
    parser.add_argument("--skip-model", action="store_true", help="skip the offline model section")
    parser.add_argument(
        "--model-subset", default="tutorial", help="corpus subfolder indexed with the model; '' = all (%(default)s)"
    )
    parser.add_argument("--model-sample", type=int, default=256, help="chunks embedded by the model alone")
    args = parser.parse_args(argv)
    if not args.corpus.is_dir():
        parser.error(f"corpus folder {args.corpus} does not exist (use --corpus or REPOCHAT_CORPUS)")
    if args.queries < WARMUP_QUERIES or args.repeats < 1:
        parser.error(f"--queries must be at least {WARMUP_QUERIES} and --repeats at least 1")
    return args


async def run(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    print("\n".join(["repochat indexing benchmark", *environment()]))
    corpus = await load_corpus(args.corpus)
    print(
        f"corpus           {corpus.root}: {len(corpus.entries)} files, {corpus.total_bytes / 1e6:.2f} MB "
        f"(repochat's file policy), {len(corpus.chunks)} repochat chunks\n",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="repochat-bench-") as folder:
        workspace = Path(folder)
        queries = search_queries(corpus, args.queries)
        hashing = await hashing_section(corpus, workspace, args.repeats, queries)
        print("\n".join(hashing_report(hashing, args.repeats, len(queries))), flush=True)
        if not args.skip_model:
            model = await model_section(corpus, workspace, args.model_subset.strip("/"), args.model_sample)
            print("\n" + "\n".join(model_report(model)))
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\ntotal wall time {time.perf_counter() - started:.1f} s, load average at the end {load}")


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()
