"""ExtractiveAnswerGenerator: answers with no LLM, by quoting the best passages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from application.ports import AnswerGenerator
from domain.answers import ChatTurn, SearchHit, extractive_answer


class ExtractiveAnswerGenerator(AnswerGenerator):
    @property
    def generative(self) -> bool:
        return False

    async def generate(self, question: str, hits: Sequence[SearchHit], history: Sequence[ChatTurn]) -> str:
        return extractive_answer(question, hits)

    async def stream(self, question: str, hits: Sequence[SearchHit], history: Sequence[ChatTurn]) -> AsyncIterator[str]:
        for line in extractive_answer(question, hits).splitlines(keepends=True):
            yield line
