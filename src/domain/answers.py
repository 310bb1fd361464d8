"""Search hits, citations, and the policies that turn passages into an answer."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from domain.documents import Chunk


@dataclass(frozen=True)
class SearchHit:
    chunk: Chunk
    score: float
    """The ranking score of the retrieval mode (higher is better): cosine similarity for dense,
    BM25 for keyword, the fused reciprocal-rank score for hybrid. Comparable within one result only."""
    similarity: float | None = None
    """Cosine similarity of query and passage (-1 to 1), when the dense leg scored this passage."""
    keyword_score: float | None = None
    """BM25 score of the passage, when the keyword leg matched it."""


@dataclass(frozen=True)
class Citation:
    path: str
    repository: str
    commit: str
    start_line: int
    end_line: int
    url: str
    text: str
    score: float
    similarity: float | None = None
    keyword_score: float | None = None
    used: bool = False
    """Whether the answer cites it: an `[n]` marker of a generated answer, a passage the extractive one quotes."""
    supported: bool | None = None
    """Whether the cited passage holds what the sentences citing it state (domain.citation_check);
    None when the answer does not cite it."""
    reason: str = ""
    """Why it is supported or not, for people; empty when not cited."""

    @staticmethod
    def of(hit: SearchHit) -> Citation:
        c = hit.chunk
        location = (c.path, c.repository, c.commit, c.start_line, c.end_line, c.url)
        return Citation(*location, c.text, hit.score, hit.similarity, hit.keyword_score)


@dataclass(frozen=True)
class ChatTurn:
    role: str  # "user" or "assistant"
    content: str


@dataclass(frozen=True)
class Answer:
    text: str
    citations: tuple[Citation, ...]
    generated: bool
    """False for the extractive fallback, which quotes passages instead of writing prose."""


def citation_url(web_url: str, commit: str, path: str, start: int, end: int) -> str:
    """A permanent link to the cited lines.

    GitHub: `{web_url}/blob/{commit}/{path}#L{start}-L{end}`; a local folder's web_url is a
    `file://` URL of the folder, linked as `{web_url}/{path}#L{start}-L{end}`.
    """
    anchor = f"#L{start}-L{end}"
    if web_url.startswith("file://"):
        return f"{web_url.rstrip('/')}/{path}{anchor}"
    return f"{web_url.rstrip('/')}/blob/{commit}/{path}{anchor}"


SYSTEM_PROMPT = (
    "You answer questions about a software project using only the numbered sources "
    "below, excerpts of its documentation and code. Cite every claim with the numbers of "
    "the sources it comes from, in square brackets, like [1] or [2][3], and cite no source "
    "you did not use. If the sources do not contain the answer, say so plainly instead of "
    "guessing. Be concise; use code blocks for code."
)


def format_sources(hits: Sequence[SearchHit]) -> str:
    """The numbered source list an LLM is asked to cite from."""
    blocks = []
    for number, hit in enumerate(hits, start=1):
        c = hit.chunk
        blocks.append(f"[{number}] {c.repository}:{c.path} lines {c.start_line}-{c.end_line}\n{c.text}")
    return "\n\n".join(blocks)


QUOTED_PASSAGES = 3
"""How many of the best passages the extractive answer quotes, as [1] to [3]."""


def extractive_answer(hits: Sequence[SearchHit], max_passages: int = QUOTED_PASSAGES) -> str:
    """The no-LLM answer: the best passages quoted with where they come from.

    It says plainly that it was not generated, so nobody mistakes quotes for a summary.
    """
    if not hits:
        return "No indexed passage matches this question. Index a repository first, or rephrase."
    parts = [
        "No language model is configured (set OPENAI_API_KEY for generated answers), "
        "so here are the most relevant passages, quoted as indexed:"
    ]
    for number, hit in enumerate(hits[:max_passages], start=1):
        c = hit.chunk
        quoted = "\n".join(f"> {line}" if line else ">" for line in c.text.splitlines())
        parts.append(f"[{number}] {c.path} (lines {c.start_line}-{c.end_line})\n{quoted}")
    return "\n\n".join(parts)


# -- which sources an answer used

CODE_SPANS = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)
"""Code blocks and spans of Markdown: brackets in them are no citation markers."""
MARKER_CHAINS = re.compile(r"(?<![\w)\]])((?:\[\s*\d+(?:\s*,\s*\d+)*\s*\])+)")
_NUMBER = re.compile(r"\d+")


def cited_numbers(text: str, sources: int) -> frozenset[int]:
    """The source numbers (1 to `sources`) an answer cites: `[1]`, `[1][3]` and `[2, 3]` are read.

    Numbers out of range are ignored, and so are brackets in code (`items[1]` in a code block or
    span) and brackets glued to a word or another bracket (`items[1]`, the `[1]` of a Markdown
    reference link `[text][1]`): those are not citations. Ranges (`[1-3]`) are not read.
    """
    prose = CODE_SPANS.sub(" ", text)
    numbers = (int(n) for chain in MARKER_CHAINS.findall(prose) for n in _NUMBER.findall(chain))
    return frozenset(n for n in numbers if 1 <= n <= sources)


def mark_used(citations: Iterable[Citation], used: Iterable[int]) -> tuple[Citation, ...]:
    """The citations with `used` set on those whose 1-based number is in `used`."""
    numbers = frozenset(used)
    return tuple(replace(c, used=n in numbers) for n, c in enumerate(citations, start=1))


def cited_sources(citations: Sequence[Citation]) -> list[tuple[int, Citation]]:
    """The citations an answer used, with their numbers; all of them when it marks none used and
    the check dropped none (a model that cited nothing still answered from them all)."""
    numbered = list(enumerate(citations, start=1))
    used = [(n, c) for n, c in numbered if c.used]
    if used or any(c.supported is False for c in citations):
        return used
    return numbered


# -- abstaining: not answering from unrelated passages


def best_similarity(hits: Sequence[SearchHit]) -> float | None:
    """The highest dense similarity among the hits; None when no hit has one (keyword search)."""
    known = [hit.similarity for hit in hits if hit.similarity is not None]
    return max(known, default=None)


def too_weak(hits: Sequence[SearchHit], abstain_below: float | None) -> bool:
    """Whether the evidence is too weak to answer from: no hit, or the best similarity under the threshold.

    Without a threshold, or when no hit has a similarity (keyword mode), only no hit at all is too weak.
    """
    if not hits:
        return True
    best = best_similarity(hits)
    return abstain_below is not None and best is not None and best < abstain_below


def nothing_relevant(collection: str, repository: str | None) -> str:
    """The answer when the evidence is too weak, naming what was searched."""
    searched = (
        f"the repository {repository} (collection {collection})"
        if repository
        else f"the repositories indexed in collection {collection}"
    )
    return (
        f"I found nothing relevant to this question in {searched}, so I am not answering from "
        "unrelated passages. Rephrase it, or index the repository that documents it."
    )
