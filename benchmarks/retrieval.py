"""Retrieval benchmark: repochat's hybrid, dense and keyword search against a bm25s baseline, on our question set.

    python benchmarks/retrieval.py [--corpus NAME]... [--corpora PATH] [--mirrors PATH] [--json PATH]

Each corpus (all seven unless --corpus names some) is indexed by repochat,
built as the server builds it (the composition root `entrypoints.container.Container`: the local
folder source, the offline model REPOCHAT_EMBEDDINGS=local, embedded Chroma in a temporary data
folder, HF_HUB_OFFLINE=1), into a collection of its own. Its questions
(`benchmarks/questions/<corpus>.jsonl`, the format `repochat eval` reads, gold = the files that
answer) are then searched with `SearchRequest(question, k=10, mode=...)`:

- repochat hybrid, dense and keyword: the same chunks and model, the three retrieval modes;
- the bm25s baseline: `RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)` chunks of
  the same files, bm25s' own tokenizer (its English stopwords, its default token pattern), top 10
  chunks with a score above 0.

The documentation corpora are the five of `shared/corpora/`; the code corpora are two real
repositories at a pinned commit (`benchmarks/questions/code/`: go-chi/chi in Go, encode/httpx in
Python), extracted from the `fetch` tool's snapshots into the data folder (`benchmarks.code_corpora`),
their questions labelled by kind (implementation, behaviour, error, usage) and a held-out third.
Their figures are also printed per kind and for the tuned and held-out parts (so are those of a
documentation corpus whose questions mark a held-out part), and pooled over the code corpora apart
from the documentation ones.

Figures are file level (domain.evaluation): the 10 hits become the ranked list of the distinct
files they come from, and a question is answered when a gold file is on it: hit@1, hit@5, MRR@10,
nDCG@10, per corpus and over all questions pooled. Search latency p50/p95 is timed around
`SearchDocuments.execute` (the container's `search()`) over the corpus' questions and the
unanswerable ones, in a second pass: the first, whose results are scored, is the warm-up (the
keyword index is built from the store then). The timed pass runs the modes one after the other for
each question, in a rotating order, so a change in the load of the shared machine weighs on every
mode alike; the container's query-vector cache is emptied before each timed search, so every one
embeds its query as a new question would. The offline model's own `embed_query` time is printed too.

Abstain calibration: the best dense similarity (`SearchHit.similarity`, max over the hybrid top 10;
-1 when no hit has one) of each answerable question on its corpus and of each unanswerable question
(`unanswerable.jsonl`) on every corpus, their distributions, and the threshold with the best
balanced accuracy.

python-docs is 12 MB (about 10k chunks, 10+ minutes of the offline model on 2 cores), so only a
subset of `Doc/` is indexed: tutorial/, howto/, faq/ and the library pages in PYTHON_LIBRARY_PAGES
(the ones the questions target and as many others as distractors); its gold lies within them.
Nothing is cached between runs except the model files the machine already has, unless --data-dir
keeps the data folder: a second run on it re-indexes nothing (no change), so a change to search is
measured on the same chunks and vectors in minutes instead of re-embedding every corpus.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
os.environ["HF_HUB_OFFLINE"] = "1"

import bm25s  # noqa: E402
from langchain_text_splitters import RecursiveCharacterTextSplitter  # noqa: E402

from adapters.sources.local_folder import LocalFolderSource  # noqa: E402
from application.search import Search, SearchRequest  # noqa: E402
from benchmarks.code_corpora import (  # noqa: E402
    CODE_REPOSITORIES,
    CodeRepository,
    QuestionLabel,
    by_label,
    labels,
    materialised,
)
from benchmarks.indexing import Latency, environment  # noqa: E402
from domain.answers import SearchHit  # noqa: E402
from domain.evaluation import (  # noqa: E402
    CaseScore,
    EvalCase,
    Threshold,
    hit_rate,
    mean_ndcg,
    mean_reciprocal_rank,
    score_case,
    separating_threshold,
)
from domain.jobs import IndexRequest  # noqa: E402
from domain.retrieval import RetrievalMode  # noqa: E402
from entrypoints.cli_commands import read_cases  # noqa: E402  (exactly what `repochat eval` reads)
from entrypoints.container import Container, running  # noqa: E402
from entrypoints.settings import Settings  # noqa: E402
from entrypoints.source_input import source_spec  # noqa: E402

QUESTIONS = ROOT / "benchmarks" / "questions"
UNANSWERABLE = QUESTIONS / "unanswerable.jsonl"
K = 10
NO_SIMILARITY = -1.0
"""The best similarity of a question none of whose top hits the dense leg scored (keyword-only hits)."""
BASELINE = "bm25s baseline"
MODES = {f"repochat {mode.value}": mode for mode in (RetrievalMode.HYBRID, RetrievalMode.DENSE, RetrievalMode.KEYWORD)}
SYSTEMS = (*MODES, BASELINE)

PYTHON_LIBRARY_PAGES = (
    # what the questions target
    "argparse", "asyncio-task", "collections", "concurrent.futures", "contextlib", "csv", "dataclasses",
    "datetime", "exceptions", "functools", "glob", "json", "logging", "pathlib", "re", "shutil", "sqlite3",
    "string", "subprocess", "typing", "unittest.mock", "venv",
    # distractors: neighbours of those pages
    "asyncio-subprocess", "bisect", "enum", "fnmatch", "heapq", "itertools", "operator", "os.path",
    "tempfile", "textwrap", "zoneinfo",
)  # fmt: skip


@dataclass(frozen=True)
class CorpusSpec:
    name: str
    folder: str
    """The folder indexed, relative to the corpora folder (each corpus' README names it)."""
    include: tuple[str, ...] = ()
    """Include globs (repochat's file policy); empty: the default policy, the whole folder."""
    note: str = ""
    code: CodeRepository | None = None
    """A code corpus: the repository whose snapshot its folder is extracted from (`folder` is then unused)."""

    @property
    def questions(self) -> Path:
        return self.code.questions if self.code else QUESTIONS / f"{self.name}.jsonl"


CORPORA = (
    CorpusSpec("fastapi-docs", "fastapi-docs"),
    CorpusSpec("hatchet-docs", "hatchet-docs/docs"),
    CorpusSpec("react-docs", "react-docs/content"),
    CorpusSpec("vite-docs", "vite-docs/docs"),
    CorpusSpec(
        "python-docs",
        "python-docs/Doc",
        ("tutorial/*.rst", "howto/*.rst", "faq/*.rst", *(f"library/{page}.rst" for page in PYTHON_LIBRARY_PAGES)),
        f"subset: tutorial/, howto/, faq/ and {len(PYTHON_LIBRARY_PAGES)} library pages",
    ),
    *(
        CorpusSpec(code.name, "", note=f"code: {code.github} at {code.commit[:12]}", code=code)
        for code in CODE_REPOSITORIES
    ),
)
BY_NAME = {corpus.name: corpus for corpus in CORPORA}


# ---------------------------------------------------------------- figures


@dataclass(frozen=True)
class Quality:
    questions: int
    hit_at_1: float
    hit_at_5: float
    mrr_at_10: float
    ndcg_at_10: float

    @classmethod
    def of(cls, scores: Sequence[CaseScore]) -> Quality:
        return cls(
            len(scores), hit_rate(scores, 1), hit_rate(scores, 5), mean_reciprocal_rank(scores), mean_ndcg(scores)
        )


@dataclass
class SystemRun:
    """One system's results on one corpus: a score per question, and the search times of the timed pass."""

    scores: list[CaseScore] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Similarity:
    question: str
    corpus: str
    answerable: bool
    best: float


@dataclass
class CorpusRun:
    spec: CorpusSpec
    files: int
    chunks: int
    index_seconds: float
    systems: dict[str, SystemRun]
    similarities: list[Similarity]
    embed_query_seconds: list[float]
    labels: list[QuestionLabel]


# ---------------------------------------------------------------- corpus and questions


async def indexed_paths(folder: Path, spec: CorpusSpec) -> list[str]:
    """The files repochat's source lists for the corpus (its file policy and the include globs)."""
    snapshot = await LocalFolderSource().snapshot(source_spec(str(folder), include=spec.include), None)
    return [entry.path for entry in snapshot.files or ()]


def check_gold(name: str, cases: Sequence[EvalCase], paths: Sequence[str]) -> None:
    """Every gold path must be a file that is indexed, or the question could never be answered."""
    known = set(paths)
    missing = sorted({g for case in cases for g in case.gold if g not in known})
    if missing:
        raise SystemExit(f"{name}: gold paths not indexed: {', '.join(missing)}")


# ---------------------------------------------------------------- repochat


def benchmark_settings(data_dir: Path) -> Settings:
    """The embedded default with the offline model whatever the environment says; the retrieval policy
    (REPOCHAT_RRF_K, _DENSE_WEIGHT, _KEYWORD_WEIGHT, _MAX_HITS_PER_FILE) is the configured one, to measure a tuning."""
    return Settings(data_dir=data_dir, embeddings="local", llm="extractive", chroma_url=None, job_queue="inprocess")


async def index(container: Container, folder: Path, spec: CorpusSpec) -> tuple[int, int, float]:
    request = IndexRequest(source_spec(str(folder), include=spec.include), collection_of(spec))
    start = time.perf_counter()
    result = await container.index_repository().execute(request)
    return result.files_indexed, result.chunks_written, time.perf_counter() - start


def collection_of(spec: CorpusSpec) -> str:
    return f"bench-{spec.name}"


async def search_all(
    search: Search, questions: Sequence[str], collection: str, mode: RetrievalMode
) -> list[list[SearchHit]]:
    """Each question's hits, best first."""
    return [
        list((await search.execute(SearchRequest(question, K, collection, mode=mode))).hits) for question in questions
    ]


async def timed_searches(
    container: Container, questions: Sequence[str], collection: str
) -> tuple[dict[str, list[float]], list[float]]:
    """The seconds of each search by mode (per question every mode in turn, the first one rotating),
    and of the offline model's `embed_query` alone (no cache) for each question, right after."""
    seconds: dict[str, list[float]] = {label: [] for label in MODES}
    model: list[float] = []
    labels, embedder = list(MODES), container.embedder()
    for number, question in enumerate(questions):
        for label in labels[number % len(labels) :] + labels[: number % len(labels)]:
            container.query_embedder.reset()  # an empty query-vector cache: this search embeds its query
            search, request = container.search(), SearchRequest(question, K, collection, mode=MODES[label])
            start = time.perf_counter()
            await search.execute(request)
            seconds[label].append(time.perf_counter() - start)
        start = time.perf_counter()
        await embedder.embed_query(question)
        model.append(time.perf_counter() - start)
    return seconds, model


def best_similarity(hits: Sequence[SearchHit]) -> float:
    return max((h.similarity for h in hits if h.similarity is not None), default=NO_SIMILARITY)


# ---------------------------------------------------------------- baseline


class Bm25Baseline:
    """bm25s over RecursiveCharacterTextSplitter(1000, 200) chunks of the same files; each chunk knows its file."""

    def __init__(self, root: Path, paths: Sequence[str]) -> None:
        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
        texts = [(root / path).read_text(encoding="utf-8", errors="replace") for path in paths]
        documents = splitter.create_documents(texts, metadatas=[{"path": path} for path in paths])
        self.chunks = len(documents)
        self._paths = [str(d.metadata["path"]) for d in documents]
        self._retriever = bm25s.BM25()
        self._retriever.index(
            bm25s.tokenize([d.page_content for d in documents], show_progress=False), show_progress=False
        )

    def search(self, question: str) -> list[str]:
        """The paths of the top K chunks, best first (chunks that share no term with the question left out)."""
        tokens = bm25s.tokenize([question], return_ids=False, show_progress=False)
        ids, scores = self._retriever.retrieve(tokens, k=min(K, len(self._paths)), show_progress=False)
        return [self._paths[int(i)] for i, s in zip(ids[0], scores[0], strict=True) if s > 0]


def baseline_run(baseline: Bm25Baseline, cases: Sequence[EvalCase], timed: Sequence[str]) -> SystemRun:
    run = SystemRun(scores=[score_case(case, baseline.search(case.question), K) for case in cases])
    for question in timed:
        start = time.perf_counter()
        baseline.search(question)
        run.seconds.append(time.perf_counter() - start)
    return run


# ---------------------------------------------------------------- one corpus


async def run_corpus(container: Container, folder: Path, spec: CorpusSpec, unanswerable: Sequence[str]) -> CorpusRun:
    cases = read_cases(spec.questions)
    paths = await indexed_paths(folder, spec)
    check_gold(spec.name, cases, paths)
    files, chunks, index_seconds = await index(container, folder, spec)
    rate = chunks / index_seconds
    print(f"  indexed {files} files, {chunks} chunks in {index_seconds:.1f} s ({rate:.1f} chunks/s)", flush=True)

    collection = collection_of(spec)
    questions = [case.question for case in cases]
    timed = [*questions, *unanswerable]
    systems: dict[str, SystemRun] = {}
    similarities: list[Similarity] = []
    for label, mode in MODES.items():
        results = await search_all(container.search(), timed, collection, mode)  # the warm-up pass, scored
        answered = zip(cases, results[: len(cases)], strict=True)
        systems[label] = SystemRun([score_case(case, [h.chunk.path for h in hits], K) for case, hits in answered])
        if mode is RetrievalMode.HYBRID:
            similarities = [
                Similarity(question, spec.name, number < len(questions), best_similarity(hits))
                for number, (question, hits) in enumerate(zip(timed, results, strict=True))
            ]
    by_mode, model_seconds = await timed_searches(container, timed, collection)
    for label, seconds in by_mode.items():
        systems[label].seconds = seconds
    baseline = await asyncio.to_thread(Bm25Baseline, folder, paths)
    systems[BASELINE] = baseline_run(baseline, cases, timed)
    print(f"  baseline: {baseline.chunks} bm25s chunks", flush=True)
    return CorpusRun(spec, files, chunks, index_seconds, systems, similarities, model_seconds, labels(spec.questions))


# ---------------------------------------------------------------- report


def quality_table(title: str, runs: dict[str, SystemRun], embed_seconds: Sequence[float]) -> list[str]:
    lines = [
        title,
        f"  {'system':<26} {'questions':>9} {'hit@1':>6} {'hit@5':>6} {'MRR@10':>7} {'nDCG@10':>8} "
        f"{'p50 ms':>8} {'p95 ms':>8}",
    ]
    for label, run in runs.items():
        q, latency = Quality.of(run.scores), Latency.of(run.seconds)
        lines.append(
            f"  {label:<26} {q.questions:>9} {q.hit_at_1:>6.3f} {q.hit_at_5:>6.3f} {q.mrr_at_10:>7.3f} "
            f"{q.ndcg_at_10:>8.3f} {latency.p50_ms:>8.1f} {latency.p95_ms:>8.1f}"
        )
    model = Latency.of(embed_seconds)
    lines.append(f"  {'(model embed_query alone)':<26} {'':>9} {'':>6} {'':>6} {'':>7} {'':>8} "
                 f"{model.p50_ms:>8.1f} {model.p95_ms:>8.1f}")  # fmt: skip
    return lines


def label_table(title: str, systems: dict[str, SystemRun], question_labels: Sequence[QuestionLabel]) -> list[str]:
    """hit@1, hit@5 and MRR@10 of each system on each kind of question, and on the tuned and held-out parts."""
    lines = [
        title,
        f"  {'questions':<22} {'n':>3} " + " ".join(f"{label:>22}" for label in systems),
        f"  {'':<22} {'':>3} " + " ".join(f"{'hit@1 hit@5 MRR@10':>22}" for _ in systems),
    ]
    scores = next(iter(systems.values())).scores
    for group, indices in by_label(scores, question_labels).items():
        cells = []
        for run in systems.values():
            q = Quality.of([run.scores[i] for i in indices])
            cells.append(f"{q.hit_at_1:>9.3f} {q.hit_at_5:>5.3f} {q.mrr_at_10:>6.3f}")
        lines.append(f"  {group:<22} {len(indices):>3} " + " ".join(cells))
    return lines


def label_figures(runs: Sequence[CorpusRun]) -> dict[str, dict[str, object]]:
    """The figures of each system on each kind of question and part (tuned, held out) of `runs`, pooled."""
    if not runs:
        return {}
    systems = pooled(runs)
    groups = by_label(systems[BASELINE].scores, pooled_labels(runs))
    return {
        group: {label: asdict(Quality.of([run.scores[i] for i in indices])) for label, run in systems.items()}
        for group, indices in groups.items()
    }


def code_runs(runs: Sequence[CorpusRun]) -> list[CorpusRun]:
    return [run for run in runs if run.spec.code]


def documentation_runs(runs: Sequence[CorpusRun]) -> list[CorpusRun]:
    return [run for run in runs if not run.spec.code]


def pooled_labels(runs: Sequence[CorpusRun]) -> list[QuestionLabel]:
    return [label for run in runs for label in run.labels]


def pooled(runs: Sequence[CorpusRun]) -> dict[str, SystemRun]:
    return {
        label: SystemRun(
            [s for run in runs for s in run.systems[label].scores],
            [t for run in runs for t in run.systems[label].seconds],
        )
        for label in SYSTEMS
    }


def distribution(values: Sequence[float]) -> dict[str, float]:
    cuts = statistics.quantiles(values, n=20, method="inclusive")
    return {
        "min": min(values),
        "p10": cuts[1],
        "p25": cuts[4],
        "median": cuts[9],
        "p75": cuts[14],
        "p90": cuts[17],
        "max": max(values),
    }


def calibration(similarities: Sequence[Similarity]) -> tuple[dict[str, dict[str, float]], Threshold]:
    answerable = [s.best for s in similarities if s.answerable]
    unanswerable = [s.best for s in similarities if not s.answerable]
    return (
        {"answerable": distribution(answerable), "unanswerable": distribution(unanswerable)},
        separating_threshold(answerable, unanswerable),
    )


def calibration_report(runs: Sequence[CorpusRun]) -> list[str]:
    similarities = [s for run in runs for s in run.similarities]
    spread, threshold = calibration(similarities)
    counts = {kind: sum(s.answerable == (kind == "answerable") for s in similarities) for kind in spread}
    names = list(next(iter(spread.values())))
    lines = [
        "abstain calibration: best dense similarity in the hybrid top 10 (answerable questions on their corpus, "
        "unanswerable ones on every corpus)",
        f"  {'':<14} {'n':>4} " + " ".join(f"{name:>7}" for name in names),
        *(
            f"  {kind:<14} {counts[kind]:>4} " + " ".join(f"{value:>7.3f}" for value in figures.values())
            for kind, figures in spread.items()
        ),
        f"  best threshold {threshold.value:.3f}: balanced accuracy {threshold.balanced_accuracy:.3f} "
        f"(answers {threshold.answered:.1%} of answerable, abstains on {threshold.abstained:.1%} of unanswerable)",
    ]
    for run in runs:
        _, own = calibration(run.similarities)
        lines.append(
            f"  {run.spec.name:<14} alone: threshold {own.value:.3f}, balanced accuracy {own.balanced_accuracy:.3f}"
        )
    return lines


def figures_json(runs: Sequence[CorpusRun], total_seconds: float) -> dict[str, object]:
    def systems(by_label: dict[str, SystemRun]) -> dict[str, object]:
        return {
            label: {**asdict(Quality.of(run.scores)), "latency_ms": asdict(Latency.of(run.seconds))}
            for label, run in by_label.items()
        }

    spread, threshold = calibration([s for run in runs for s in run.similarities])
    return {
        "k": K,
        "environment": environment(),
        "total_seconds": total_seconds,
        "corpora": {
            run.spec.name: {
                "folder": run.spec.folder,
                "include": list(run.spec.include),
                "files": run.files,
                "chunks": run.chunks,
                "index_seconds": run.index_seconds,
                "systems": systems(run.systems),
                "embed_query_ms": asdict(Latency.of(run.embed_query_seconds)),
                "questions": [
                    {
                        "question": score.question,
                        **asdict(run.labels[n]),
                        "gold_ranks": {label: list(run.systems[label].scores[n].gold_ranks) for label in SYSTEMS},
                    }
                    for n, score in enumerate(run.systems[BASELINE].scores)
                ],
            }
            for run in runs
        },
        "overall": systems(pooled(runs)),
        "documentation": systems(pooled(documentation_runs(runs))) if documentation_runs(runs) else {},
        "code": systems(pooled(code_runs(runs))) if code_runs(runs) else {},
        "documentation_by_label": label_figures(documentation_runs(runs)),
        "code_by_label": label_figures(code_runs(runs)),
        "abstain": {
            "distribution": spread,
            "threshold": asdict(threshold),
            "similarities": [asdict(s) for run in runs for s in run.similarities],
        },
    }


# ---------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--corpus", action="append", choices=list(BY_NAME), help="run this corpus only (repeatable; default: all)"
    )
    parser.add_argument(
        "--corpora", type=Path, default=ROOT.parent / "shared" / "corpora", help="folder of the corpora (%(default)s)"
    )
    parser.add_argument(
        "--mirrors",
        type=Path,
        default=ROOT.parent / ".mirror",
        help="folder of the fetch tool's snapshots the code corpora are extracted from (%(default)s)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="keep the data folder here instead of a temporary one: a second run re-indexes nothing "
        "(to compare search changes on the same chunks and vectors)",
    )
    args = parser.parse_args(argv)
    if not args.corpora.is_dir():
        parser.error(f"corpora folder {args.corpora} does not exist")
    return args


async def run(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    print(
        "\n".join(["repochat retrieval benchmark", *environment(), f"bm25s            {bm25s.__version__}"]), flush=True
    )
    specs = [BY_NAME[name] for name in dict.fromkeys(args.corpus)] if args.corpus else list(CORPORA)
    unanswerable = [case.question for case in read_cases(UNANSWERABLE)]
    runs: list[CorpusRun] = []
    kept = nullcontext(str(args.data_dir)) if args.data_dir else None
    with kept or tempfile.TemporaryDirectory(prefix="repochat-retrieval-") as folder:
        settings = benchmark_settings(Path(folder))
        print(f"retrieval policy {settings.retrieval_policy}")
        container = Container(settings=settings, process_name="repochat retrieval benchmark")
        async with running(container):
            for spec in specs:
                corpus = (
                    materialised(spec.code, args.mirrors, Path(folder) / "repositories")
                    if spec.code
                    else args.corpora / spec.folder
                )
                print(f"\n{spec.name}: {corpus}" + (f" ({spec.note})" if spec.note else ""))
                corpus_run = await run_corpus(container, corpus, spec, unanswerable)
                runs.append(corpus_run)
                title = (
                    f"{spec.name}: {corpus_run.files} files, {corpus_run.chunks} repochat chunks; k={K}, "
                    f"file-level; latency over {len(corpus_run.similarities)} searches per mode"
                )
                print("\n".join(quality_table(title, corpus_run.systems, corpus_run.embed_query_seconds)), flush=True)
                if spec.code or any(label.held_out for label in corpus_run.labels):
                    print("\n".join(label_table(f"{spec.name} by question", corpus_run.systems, corpus_run.labels)))
    for name, group in (("documentation", documentation_runs(runs)), ("code", code_runs(runs))):
        if len(group) > 1:
            title = f"\noverall {name}: {len(group)} corpora, questions pooled"
            print("\n".join(quality_table(title, pooled(group), [t for r in group for t in r.embed_query_seconds])))
            print("\n".join(label_table(f"overall {name} by question", pooled(group), pooled_labels(group))))
    print("\n" + "\n".join(calibration_report(runs)))
    total = time.perf_counter() - started
    if args.json:
        args.json.write_text(json.dumps(figures_json(runs, total), indent=2) + "\n")
        print(f"\nfigures written to {args.json}")
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\ntotal wall time {total:.1f} s, load average at the end {load}")


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()
