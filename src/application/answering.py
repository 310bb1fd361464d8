"""Answer questions from retrieved passages, whole or as a stream of events.

`AnswerQuestion.execute` gives the whole answer, `stream` the same answer as events. A follow-up
question is first made searchable (the QueryRewriter: a standalone query, or the literal rule of
domain.follow_ups, which is also what a failed rewrite falls back to), then searched. When the
evidence is too weak (no hit, or the best dense similarity under `abstain_below`), it abstains:
the answer says nothing relevant was found in what was searched, no model is asked, and the weak
candidates come back as citations marked unused. Otherwise the generator answers, and each
citation says whether the answer used it (its `[n]` markers; the passages the extractive answer
quotes) and whether the passage supports what cites it (CheckCitations, domain.citation_check).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from application.ports.embeddings import Embedder
from application.ports.generation import (
    NO_OPTIONS,
    AnswerGenerator,
    GenerationEnd,
    GenerationOptions,
    GenerationRequest,
    QueryRewriter,
)
from application.search import Search, SearchRequest
from domain.access import LOCAL_USER, Caller
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
from domain.citation_check import (
    NOT_CHECKED,
    CheckSummary,
    UnsupportedCitations,
    check_citations,
    cited_sentences,
    cosine,
    drop_unsupported,
    judged,
    quoted,
)
from domain.claims import Passage
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
    caller: Caller = LOCAL_USER
    """Who asks: the answer is written from the passages of repositories it may see only."""


@dataclass(frozen=True)
class GeneratedAnswer(Answer):
    """An Answer with how its generation ended (the tokens it cost, whether max_tokens cut it),
    what was searched for it, and whether it abstained for want of relevant passages."""

    end: GenerationEnd = field(default_factory=GenerationEnd)
    search_query: str = ""
    abstained: bool = False
    citation_check: CheckSummary = NOT_CHECKED


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
    citation_check: CheckSummary = NOT_CHECKED


AnswerEvent = TokenEvent | CitationsEvent


@dataclass(frozen=True)
class CheckedAnswer:
    text: str
    """The answer's text; with `drop`, without the markers of unsupported citations."""
    citations: tuple[Citation, ...]
    summary: CheckSummary


class CheckCitations:
    """Checks a generated answer's citations against the passages they cite (domain.citation_check).

    With an embedder and a threshold (`close_enough`, measured per embedding model), each cited
    sentence must also be close enough to the passages it cites: the sentences and the passages they
    cite are embedded in one call. An embedder that fails leaves the lexical check alone (logged):
    a check never fails an answer.
    """

    def __init__(
        self,
        policy: UnsupportedCitations = UnsupportedCitations.FLAG,
        embedder: Embedder | None = None,
        close_enough: float | None = None,
    ) -> None:
        self.policy = policy
        self._embedder = embedder if close_enough is not None else None
        self._close_enough = close_enough

    async def check(self, text: str, citations: Sequence[Citation], generative: bool) -> CheckedAnswer:
        """A generated answer checked; the extractive one's quotes are supported as they are."""
        used = _mark_used(citations, text, generative)
        if not generative:
            quotes, summary = quoted(used)
            return CheckedAnswer(text, quotes, summary)
        passages = [Passage(c.path, c.text) for c in citations]
        check = check_citations(text, passages, await self._closeness(text, passages), self._close_enough)
        checked_text = drop_unsupported(text, check) if self.policy is UnsupportedCitations.DROP else text
        return CheckedAnswer(checked_text, judged(used, check, self.policy), check.summary)

    async def _closeness(self, text: str, passages: Sequence[Passage]) -> list[dict[int, float]] | None:
        """Per cited sentence, its cosine similarity to each passage it cites; None without the dense model."""
        sentences = cited_sentences(text)
        if self._embedder is None or not sentences:
            return None
        cited = sorted({n for s in sentences for n in s.numbers if 1 <= n <= len(passages)})
        try:
            vectors = await self._embedder.embed_documents(
                [s.text for s in sentences] + [passages[n - 1].text for n in cited]
            )
        except RepochatError as e:
            log.warning("embedding the cited sentences failed (%s); citations are checked by their words only", e)
            return None
        by_number = dict(zip(cited, vectors[len(sentences) :], strict=True))
        return [
            {n: cosine(vector, by_number[n]) for n in s.numbers if n in by_number}
            for s, vector in zip(sentences, vectors, strict=False)
        ]


class AnswerQuestion:
    """One answer to one question: whole (`execute`) or as tokens first and citations last (`stream`).

    Both refuse a question or history outside `InputLimits` before anything is searched or generated.
    With `drop`, a streamed generated answer is held until it is checked, then sent as one token
    event: a marker once sent cannot be taken back."""

    def __init__(
        self,
        search: Search,
        generator: AnswerGenerator,
        rewriter: QueryRewriter,
        abstain_below: float | None,
        limits: InputLimits | None = None,
        checker: CheckCitations | None = None,
    ) -> None:
        self._search = search
        self._generator = generator
        self._rewriter = rewriter
        self._abstain_below = abstain_below
        self._limits = limits or InputLimits()
        self._checker = checker or CheckCitations()

    async def execute(self, request: AskRequest) -> GeneratedAnswer:
        evidence = await self._evidence(request)
        if too_weak(evidence.hits, self._abstain_below):
            return GeneratedAnswer(
                evidence.abstention, evidence.citations, False, search_query=evidence.query, abstained=True
            )
        generative = self._generator.generative
        generated = await self._generator.generate(evidence.generation)
        checked = await self._checker.check(generated.text, evidence.citations, generative)
        return GeneratedAnswer(
            checked.text, checked.citations, generative, generated.end, evidence.query, citation_check=checked.summary
        )

    async def stream(self, request: AskRequest) -> AsyncIterator[AnswerEvent]:
        """The answer of `execute` as events. A generation that breaks off raises from the iteration,
        so no CitationsEvent marks it whole."""
        evidence = await self._evidence(request)
        if too_weak(evidence.hits, self._abstain_below):
            yield TokenEvent(evidence.abstention)
            yield CitationsEvent(evidence.citations, False, search_query=evidence.query, abstained=True)
            return
        generative = self._generator.generative
        held = generative and self._checker.policy is UnsupportedCitations.DROP
        end = GenerationEnd()
        pieces: list[str] = []
        async for piece in self._generator.stream(evidence.generation):
            if isinstance(piece, GenerationEnd):
                end = piece
            else:
                pieces.append(piece)
                if not held:
                    yield TokenEvent(piece)
        checked = await self._checker.check("".join(pieces), evidence.citations, generative)
        if held and checked.text:
            yield TokenEvent(checked.text)
        yield CitationsEvent(checked.citations, generative, end, evidence.query, citation_check=checked.summary)

    async def _evidence(self, request: AskRequest) -> _Evidence:
        """The passages found for the question: rewritten first when it follows earlier turns."""
        self._limits.check_text(request.question, "question")
        self._limits.check_history(request.history)
        self._limits.check_k(request.k)
        query = await _searchable(self._rewriter, request) if request.history else SearchQuery(request.question)
        where = (request.k, request.collection, request.repository, request.mode)
        searched = SearchRequest(query.text, *where, query.keyword_context, request.ref, request.caller)
        found = await self._search.execute(searched)
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
