"""The no-LLM adapters: ExtractiveAnswerGenerator quotes the best passages, LiteralQueryRewriter
searches a follow-up question as asked (domain.follow_ups.literal_query)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from application.ports.generation import AnswerGenerator, Generated, GenerationEnd, GenerationRequest, QueryRewriter
from domain.answers import ChatTurn, extractive_answer
from domain.follow_ups import SearchQuery, literal_query


class ExtractiveAnswerGenerator(AnswerGenerator):
    """Quotes passages whatever the options say: no model, so no sampling, no token count, no usage."""

    @property
    def generative(self) -> bool:
        return False

    async def generate(self, request: GenerationRequest) -> Generated:
        return Generated(extractive_answer(request.hits))

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str | GenerationEnd]:
        for line in extractive_answer(request.hits).splitlines(keepends=True):
            yield line
        yield GenerationEnd()


class LiteralQueryRewriter(QueryRewriter):
    """No model to rewrite with: the question is the query, earlier user turns help the keyword leg only."""

    async def rewrite(self, question: str, history: Sequence[ChatTurn]) -> SearchQuery:
        return literal_query(question, history)
