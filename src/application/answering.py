"""Answer questions from retrieved passages, whole or as a stream of events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from application.ports import NO_OPTIONS, AnswerGenerator, GenerationEnd, GenerationOptions
from application.search import SearchDocuments, SearchRequest
from domain.answers import Answer, ChatTurn, Citation, SearchHit
from domain.collections import DEFAULT_COLLECTION
from domain.errors import InvalidInput

NOTHING_FOUND = "I found nothing in the indexed documents that answers this. Index a repository first, or rephrase."


@dataclass(frozen=True)
class AskRequest:
    question: str
    history: tuple[ChatTurn, ...] = field(default=())
    collection: str = DEFAULT_COLLECTION
    k: int = 5
    repository: str | None = None
    options: GenerationOptions = NO_OPTIONS


@dataclass(frozen=True)
class GeneratedAnswer(Answer):
    """An Answer with how its generation ended: the tokens it cost, whether max_tokens cut it."""

    end: GenerationEnd = field(default_factory=GenerationEnd)


@dataclass(frozen=True)
class TokenEvent:
    text: str


@dataclass(frozen=True)
class CitationsEvent:
    """The last event of a whole answer."""

    citations: tuple[Citation, ...]
    generated: bool
    end: GenerationEnd = field(default_factory=GenerationEnd)


AnswerEvent = TokenEvent | CitationsEvent


class AnswerQuestion:
    def __init__(self, search: SearchDocuments, generator: AnswerGenerator) -> None:
        self._search = search
        self._generator = generator

    async def execute(self, request: AskRequest) -> GeneratedAnswer:
        hits = await _retrieve(self._search, request)
        if not hits:
            return GeneratedAnswer(NOTHING_FOUND, (), self._generator.generative)
        generated = await self._generator.generate(request.question, hits, request.history, request.options)
        return GeneratedAnswer(generated.text, _citations(hits), self._generator.generative, generated.end)


class StreamAnswer:
    """The same answer as AnswerQuestion, as tokens first and citations last.

    A generation that breaks off raises from the iteration, so no CitationsEvent marks it whole."""

    def __init__(self, search: SearchDocuments, generator: AnswerGenerator) -> None:
        self._search = search
        self._generator = generator

    async def execute(self, request: AskRequest) -> AsyncIterator[AnswerEvent]:
        hits = await _retrieve(self._search, request)
        end = GenerationEnd()
        if not hits:
            yield TokenEvent(NOTHING_FOUND)
        else:
            async for piece in self._generator.stream(request.question, hits, request.history, request.options):
                if isinstance(piece, GenerationEnd):
                    end = piece
                else:
                    yield TokenEvent(piece)
        yield CitationsEvent(_citations(hits), self._generator.generative, end)


async def _retrieve(search: SearchDocuments, request: AskRequest) -> list[SearchHit]:
    if not request.question.strip():
        raise InvalidInput("the question is empty")
    return await search.execute(SearchRequest(request.question, request.k, request.collection, request.repository))


def _citations(hits: Sequence[SearchHit]) -> tuple[Citation, ...]:
    return tuple(Citation.of(hit) for hit in hits)
