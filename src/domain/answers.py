"""Search hits, citations, and the policies that turn passages into an answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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

    @staticmethod
    def of(hit: SearchHit) -> Citation:
        c = hit.chunk
        return Citation(c.path, c.repository, c.commit, c.start_line, c.end_line, c.url, c.text, hit.score)


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
    "below, excerpts of its documentation and code. Cite every claim with the source "
    "numbers in square brackets, like [1] or [2][3]. If the sources do not contain the "
    "answer, say so plainly instead of guessing. Be concise; use code blocks for code."
)


def format_sources(hits: Sequence[SearchHit]) -> str:
    """The numbered source list an LLM is asked to cite from."""
    blocks = []
    for number, hit in enumerate(hits, start=1):
        c = hit.chunk
        blocks.append(f"[{number}] {c.repository}:{c.path} lines {c.start_line}-{c.end_line}\n{c.text}")
    return "\n\n".join(blocks)


def extractive_answer(question: str, hits: Sequence[SearchHit], max_passages: int = 3) -> str:
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
