"""Answer questions from retrieved passages, whole or as a stream of events.

`AnswerQuestion.execute` gives the whole answer, `stream` the same answer as events. A follow-up
question is first made searchable (the QueryRewriter: a standalone query, or the literal rule of
domain.follow_ups, which is also what a failed rewrite falls back to), then searched. When the
evidence is too weak (no hit, or the best dense similarity under `abstain_below`), it abstains:
the answer says nothing relevant was found in what was searched, no model is asked, and the weak
candidates come back as citations marked unused. Otherwise the generator answers, and each
citation says whether the answer used it (its `[n]` markers; the passages the extractive answer
quotes).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from application.ports.generation import (
    NO_OPTIONS,
    AnswerGenerator,
    GenerationEnd,
    GenerationOptions,
    GenerationRequest,
    QueryRewriter,
)
from application.search import Search, SearchRequest
from domain.answers import (
    QUOTED_PASSAGES,
    Answer,
    ChatTurn,
    Citation,
    SearchHit,
    cited_numbers,
    mark_used,
    nothing_relevant,
    too_weak,
)
from domain.collections import DEFAULT_COLLECTION
from domain.errors import RepochatError
from domain.follow_ups import SearchQuery, literal_query
from domain.limits import InputLimits
from domain.retrieval import RetrievalMode

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AskRequest:
    question: str
    history: tuple[ChatTurn, ...] = field(default=())
    collection: str = DEFAULT_COLLECTION
    k: int = 5
    repository: str | None = None
    options: GenerationOptions = NO_OPTIONS
    mode: RetrievalMode | None = None
    """None: the configured default (`RetrievalPolicy.mode`, REPOCHAT_RETRIEVAL)."""
    ref: str | None = None
    """As in SearchRequest: None searches each repository at its default branch, else its ref indexed last."""


@dataclass(frozen=True)
class GeneratedAnswer(Answer):
    """An Answer with how its generation ended (the tokens it cost, whether max_tokens cut it),
    what was searched for it, and whether it abstained for want of relevant passages."""

    end: GenerationEnd = field(default_factory=GenerationEnd)
    search_query: str = ""
    abstained: bool = False


@dataclass(frozen=True)
class TokenEvent:
    text: str


@dataclass(frozen=True)
class CitationsEvent:
    """The last event of a whole answer."""

    citations: tuple[Citation, ...]
    generated: bool
    end: GenerationEnd = field(default_factory=GenerationEnd)
    search_query: str = ""
    abstained: bool = False


AnswerEvent = TokenEvent | CitationsEvent


class AnswerQuestion:
    """One answer to one question: whole (`execute`) or as tokens first and citations last (`stream`).

    Both refuse a question or history outside `InputLimits` before anything is searched or generated."""

    def __init__(
        self,
        search: Search,
        generator: AnswerGenerator,
        rewriter: QueryRewriter,
        abstain_below: float | None,
        limits: InputLimits | None = None,
    ) -> None:
        self._search = search
        self._generator = generator
        self._rewriter = rewriter
        self._abstain_below = abstain_below
        self._limits = limits or InputLimits()

    async def execute(self, request: AskRequest) -> GeneratedAnswer:
        evidence = await self._evidence(request)
        if too_weak(evidence.hits, self._abstain_below):
            return GeneratedAnswer(
                evidence.abstention, evidence.citations, False, search_query=evidence.query, abstained=True
            )
        generative = self._generator.generative
        generated = await self._generator.generate(evidence.generation)
        citations = _mark_used(evidence.citations, generated.text, generative)
        return GeneratedAnswer(generated.text, citations, generative, generated.end, evidence.query)

    async def stream(self, request: AskRequest) -> AsyncIterator[AnswerEvent]:
        """The answer of `execute` as events. A generation that breaks off raises from the iteration,
        so no CitationsEvent marks it whole."""
        evidence = await self._evidence(request)
        if too_weak(evidence.hits, self._abstain_below):
            yield TokenEvent(evidence.abstention)
            yield CitationsEvent(evidence.citations, False, search_query=evidence.query, abstained=True)
            return
        generative = self._generator.generative
        end = GenerationEnd()
        pieces: list[str] = []
        async for piece in self._generator.stream(evidence.generation):
            if isinstance(piece, GenerationEnd):
                end = piece
            else:
                pieces.append(piece)
                yield TokenEvent(piece)
        citations = _mark_used(evidence.citations, "".join(pieces), generative)
        yield CitationsEvent(citations, generative, end, evidence.query)

    async def _evidence(self, request: AskRequest) -> _Evidence:
        """The passages found for the question: rewritten first when it follows earlier turns."""
        self._limits.check_text(request.question, "question")
        self._limits.check_history(request.history)
        self._limits.check_k(request.k)
        query = await _searchable(self._rewriter, request) if request.history else SearchQuery(request.question)
        where = (request.k, request.collection, request.repository, request.mode)
        found = await self._search.execute(SearchRequest(query.text, *where, query.keyword_context, request.ref))
        return _Evidence(request, query.text, found.hits)


@dataclass(frozen=True)
class _Evidence:
    request: AskRequest
    query: str
    """What was searched: the question, or its standalone rewrite."""
    hits: tuple[SearchHit, ...]

    @property
    def generation(self) -> GenerationRequest:
        request = self.request
        return GenerationRequest(request.question, self.hits, request.history, request.options)

    @property
    def citations(self) -> tuple[Citation, ...]:
        return tuple(Citation.of(hit) for hit in self.hits)

    @property
    def abstention(self) -> str:
        return nothing_relevant(self.request.collection, self.request.repository)


async def _searchable(rewriter: QueryRewriter, request: AskRequest) -> SearchQuery:
    """The follow-up's rewrite; when it fails, the literal rule (logged): a rewrite never fails an answer."""
    try:
        return await rewriter.rewrite(request.question, request.history)
    except RepochatError as e:
        log.warning("rewriting a follow-up question failed (%s); searching it as asked", e.message)
        return literal_query(request.question, request.history)


def _mark_used(citations: Sequence[Citation], text: str, generative: bool) -> tuple[Citation, ...]:
    """A generated answer used the sources its `[n]` markers name; the extractive one, those it quotes."""
    if generative:
        return mark_used(citations, cited_numbers(text, len(citations)))
    return mark_used(citations, range(1, QUOTED_PASSAGES + 1))
