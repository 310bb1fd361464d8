"""Citation check benchmark: how well repochat tells a supported citation from a misplaced or invented one.

    python benchmarks/citations.py [--corpus vite-docs] [--corpora PATH] [--answers 60] [--seed 7]

A corpus of `shared/corpora/` is indexed as the server indexes it (the composition root, the local
folder source, the offline model REPOCHAT_EMBEDDINGS=local, embedded Chroma in a temporary folder).
The chat model is the OpenAI-shaped test server (tests/integration/fake_openai.py, in process), so
every answer goes through AnswerQuestion as in production: search, prompt, generation, check.

Each sample is a sentence of the corpus' prose (8 words or more, no link, markup or code fence),
asked as the question. The fake model reads the numbered passages repochat sent it and answers with
that sentence and one marker, three ways:

- correct: cited to the passage that holds the sentence (samples whose passages do not hold it are
  skipped: the search missed, and nothing could be cited correctly);
- misplaced: the right fact cited to another passage of the same answer, one that does not hold it;
- invented: a sentence of another file of the corpus that no passage sent holds (a fact the
  passages do not state), cited to the first passage.

A misplaced or invented citation should come back `supported: false`. Precision and recall of
"unsupported" are printed for repochat's check as configured (words, then the sentence's similarity
to the passage at the measured threshold), for its parts alone, and for the baselines that flag
nothing or everything; then a sweep of the similarity threshold, which is how the threshold in
entrypoints.settings.CITATION_CLOSE_ENOUGH_BY_EMBEDDINGS was chosen. The answers restate corpus
sentences word for word: a real model paraphrases, which lowers similarities and leaves fewer
identifiers to look up, so these figures are an upper bound of what the check catches.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
os.environ["HF_HUB_OFFLINE"] = "1"

from tests.integration.fake_openai import FakeOpenAI  # noqa: E402

from application.answering import AskRequest  # noqa: E402
from benchmarks.indexing import environment  # noqa: E402
from domain.citation_check import check_citations, cited_sentences, cosine  # noqa: E402
from domain.claims import Passage  # noqa: E402
from domain.jobs import IndexRequest  # noqa: E402
from entrypoints.container import Container, running  # noqa: E402
from entrypoints.settings import CITATION_CLOSE_ENOUGH_BY_EMBEDDINGS, Settings  # noqa: E402
from entrypoints.source_input import source_spec  # noqa: E402

KEY = "sk-benchmark-citations"
COLLECTION = "bench-citations"
KINDS = ("correct", "misplaced", "invented")
SOURCE_LINE = re.compile(r"^\[(\d+)\] \S+:(\S+) lines \d+-\d+$")
SKIPPED_LINE = re.compile(r"^\s*(#|```|\||<|:::|>|!\[)|\]\(|<|`{3}")


@dataclass(frozen=True)
class Sample:
    sentence: str
    path: str


@dataclass
class Outcome:
    kind: str
    flagged: bool
    """What repochat's check as configured said: unsupported."""
    by_words: bool
    """What the lexical part alone said: unsupported."""
    similarity: float | None
    check_seconds: float
    reason: str
    """The check's reason for the cited passage, as configured."""


def sentences_of(folder: Path) -> list[Sample]:
    """Prose sentences of the corpus' Markdown files, outside code fences."""
    found = []
    for file in sorted(folder.rglob("*.md")):
        fenced = False
        for line in file.read_text(errors="replace").splitlines():
            if line.lstrip().startswith("```"):
                fenced = not fenced
            if fenced or SKIPPED_LINE.search(line):
                continue
            for sentence in re.split(r"(?<=[.!?])\s+", line.strip().lstrip("-* ")):
                if len(sentence.split()) >= 8 and sentence.endswith(".") and "[" not in sentence:
                    found.append(Sample(sentence, str(file.relative_to(folder))))
    return found


def sources_of(body: dict[str, Any]) -> dict[int, str]:
    """The passages repochat sent the model, by number: `[n] repository:path lines a-b` and the text below."""
    prompt = "\n".join(str(m["content"]) for m in body["messages"])
    passages: dict[int, list[str]] = {}
    current: list[str] | None = None
    for line in prompt.splitlines():
        header = SOURCE_LINE.match(line)
        if header:
            current = passages.setdefault(int(header.group(1)), [])
        elif current is not None:
            current.append(line)
    return {n: "\n".join(lines) for n, lines in passages.items()}


class ScriptedModel:
    """The fake model's reply for the sample and kind being asked; None when the sample cannot be cited."""

    def __init__(self, samples: Sequence[Sample], rng: random.Random) -> None:
        self.samples = samples
        self.rng = rng
        self.sample: Sample | None = None
        self.kind = "correct"
        self.reply: str | None = None

    def __call__(self, body: dict[str, Any]) -> str:
        self.reply = self._reply(sources_of(body))
        return self.reply or "The passages do not say."

    def _reply(self, passages: dict[int, str]) -> str | None:
        assert self.sample is not None
        sentence = self.sample.sentence
        holding = [n for n, text in passages.items() if sentence in text]
        others = [n for n in passages if n not in holding]
        if not holding:
            return None
        if self.kind == "correct":
            return f"{sentence[:-1]} [{holding[0]}]."
        if self.kind == "misplaced":
            return f"{sentence[:-1]} [{self.rng.choice(others)}]." if others else None
        invented = [s for s in self.samples if s.path != self.sample.path and not _held(s.sentence, passages)]
        return f"{self.rng.choice(invented).sentence[:-1]} [1]." if invented else None


def _held(sentence: str, passages: dict[int, str]) -> bool:
    return any(sentence in text for text in passages.values())


async def run_samples(container: Container, model: ScriptedModel, count: int, rng: random.Random) -> list[Outcome]:
    outcomes: list[Outcome] = []
    embedder = container.embedder()
    checker = container.check_citations()
    candidates = rng.sample(list(model.samples), len(model.samples))
    for sample in candidates:
        if len(outcomes) >= count * len(KINDS):
            break
        answered = []
        for kind in KINDS:
            model.sample, model.kind = sample, kind
            answer = await container.answer_question().execute(AskRequest(sample.sentence, collection=COLLECTION))
            if model.reply is None or answer.abstained:
                break
            answered.append((kind, answer))
        if len(answered) < len(KINDS):
            continue  # all three kinds of one sample, or none
        for kind, answer in answered:
            outcomes.append(await outcome(kind, answer.text, answer.citations, checker, embedder))
    return outcomes


async def outcome(kind: str, text: str, citations: Sequence[Any], checker: Any, embedder: Any) -> Outcome:
    """The check as configured (timed again on its own), its lexical part, and the sentence's similarity."""
    [cited] = [c for c in citations if c.used] or [None]
    start = time.perf_counter()
    await checker.check(text, citations, True)
    seconds = time.perf_counter() - start
    flagged = cited is None or cited.supported is False
    passages = [Passage(c.path, c.text) for c in citations]
    lexical = check_citations(text, passages)
    by_words = lexical.summary.unsupported > 0
    [sentence] = cited_sentences(text)
    similarity = None
    if cited is not None:
        vectors = await embedder.embed_documents([sentence.text, cited.text])
        similarity = cosine(vectors[0], vectors[1])
    reason = cited.reason if cited is not None else "no passage cited"
    return Outcome(kind, flagged, by_words, similarity, seconds, reason)


def figures(label: str, outcomes: Sequence[Outcome], flags: Sequence[bool]) -> str:
    truth = [o.kind != "correct" for o in outcomes]
    hits = sum(f and t for f, t in zip(flags, truth, strict=True))
    flagged, positives = sum(flags), sum(truth)
    precision = hits / flagged if flagged else 0.0
    recall = hits / positives if positives else 0.0
    by_kind = "  ".join(
        f"{kind} {sum(f for f, o in zip(flags, outcomes, strict=True) if o.kind == kind)}"
        f"/{sum(o.kind == kind for o in outcomes)}"
        for kind in KINDS
    )
    return f"  {label:<40} precision {precision:.2f}  recall {recall:.2f}   flagged: {by_kind}"


def far(outcome: Outcome, threshold: float) -> bool:
    return outcome.similarity is not None and outcome.similarity < threshold


def report(outcomes: Sequence[Outcome], threshold: float | None) -> list[str]:
    lines = [
        f"\n{len(outcomes) // len(KINDS)} samples x {len(KINDS)} answers; 'unsupported' is the positive class",
        figures("baseline: flag nothing", outcomes, [False] * len(outcomes)),
        figures("baseline: flag everything", outcomes, [True] * len(outcomes)),
        figures(f"repochat as configured (threshold {threshold})", outcomes, [o.flagged for o in outcomes]),
        figures("repochat, words only", outcomes, [o.by_words for o in outcomes]),
    ]
    if threshold is not None:
        lines.append(
            figures(f"repochat, similarity < {threshold} only", outcomes, [far(o, threshold) for o in outcomes])
        )
    lines.append("\nsimilarity of sentence and cited passage, by kind (min / median / max):")
    for kind in KINDS:
        values = sorted(o.similarity for o in outcomes if o.kind == kind and o.similarity is not None)
        if values:
            lines.append(f"  {kind:<10} {values[0]:.2f} / {values[len(values) // 2]:.2f} / {values[-1]:.2f}")
    lines.append("\nthreshold sweep (words, then similarity under the threshold):")
    for step in range(0, 13):
        t = round(step * 0.05, 2)
        lines.append(figures(f"threshold {t:.2f}", outcomes, [o.by_words or far(o, t) for o in outcomes]))
    wrongly = [o.reason for o in outcomes if o.kind == "correct" and o.flagged]
    lines.append(f"\ncorrect citations flagged ({len(wrongly)}), why:")
    lines.extend(f"  {reason}" for reason in wrongly)
    seconds = sorted(o.check_seconds for o in outcomes)
    lines.append(
        f"\ncheck time per answer: p50 {seconds[len(seconds) // 2] * 1000:.1f} ms, "
        f"p95 {seconds[int(len(seconds) * 0.95)] * 1000:.1f} ms (the sentence and the passage embedded)"
    )
    return lines


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--corpus", default="vite-docs")
    parser.add_argument("--corpora", type=Path, default=ROOT.parent / "shared" / "corpora")
    parser.add_argument("--answers", type=int, default=60, help="samples, each answered the three ways")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    print("\n".join(["repochat citation check benchmark", *environment()]), flush=True)
    folder = (args.corpora / args.corpus).resolve()
    rng = random.Random(args.seed)
    model = ScriptedModel(sentences_of(folder), rng)
    with (
        tempfile.TemporaryDirectory(prefix="repochat-citations-") as data,
        FakeOpenAI(api_key=KEY, reply=model) as fake,
    ):
        keys = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": fake.base_url}
        settings = Settings(data_dir=Path(data), embeddings="local", llm="openai", chroma_url=None, **keys)
        container = Container(settings=settings, process_name="repochat citation benchmark")
        async with running(container):
            result = await container.index_repository().execute(IndexRequest(source_spec(str(folder)), COLLECTION))
            print(f"{args.corpus}: {result.files_indexed} files, {result.chunks_written} chunks indexed", flush=True)
            outcomes = await run_samples(container, model, args.answers, rng)
    print("\n".join(report(outcomes, CITATION_CLOSE_ENOUGH_BY_EMBEDDINGS["local"])))
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\ntotal wall time {time.perf_counter() - started:.1f} s, load average at the end {load}")


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()
