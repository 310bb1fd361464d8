"""Answer questions from retrieved passages, whole or as a stream of events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from application.ports import AnswerGenerator
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


@dataclass(frozen=True)
class TokenEvent:
    text: str


@dataclass(frozen=True)
class CitationsEvent:
    citations: tuple[Citation, ...]
    generated: bool


AnswerEvent = TokenEvent | CitationsEvent


class AnswerQuestion:
    def __init__(self, search: SearchDocuments, generator: AnswerGenerator) -> None:
        self._search = search
        self._generator = generator

    async def execute(self, request: AskRequest) -> Answer:
        hits = await _retrieve(self._search, request)
        if not hits:
            return Answer(NOTHING_FOUND, (), self._generator.generative)
        text = await self._generator.generate(request.question, hits, request.history)
        return Answer(text, _citations(hits), self._generator.generative)


class StreamAnswer:
    """The same answer as AnswerQuestion, as tokens first and citations last."""

    def __init__(self, search: SearchDocuments, generator: AnswerGenerator) -> None:
        self._search = search
        self._generator = generator

    async def execute(self, request: AskRequest) -> AsyncIterator[AnswerEvent]:
        hits = await _retrieve(self._search, request)
        if not hits:
            yield TokenEvent(NOTHING_FOUND)
        else:
            async for token in self._generator.stream(request.question, hits, request.history):
                yield TokenEvent(token)
        yield CitationsEvent(_citations(hits), self._generator.generative)


async def _retrieve(search: SearchDocuments, request: AskRequest) -> list[SearchHit]:
    if not request.question.strip():
        raise InvalidInput("the question is empty")
    return await search.execute(SearchRequest(request.question, request.k, request.collection, request.repository))


def _citations(hits: Sequence[SearchHit]) -> tuple[Citation, ...]:
    return tuple(Citation.of(hit) for hit in hits)
