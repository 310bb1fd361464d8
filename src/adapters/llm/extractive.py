"""ExtractiveAnswerGenerator: answers with no LLM, by quoting the best passages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from application.ports import NO_OPTIONS, AnswerGenerator, Generated, GenerationEnd, GenerationOptions
from domain.answers import ChatTurn, SearchHit, extractive_answer


class ExtractiveAnswerGenerator(AnswerGenerator):
    """Quotes passages whatever the options say: no model, so no sampling, no token count, no usage."""

    @property
    def generative(self) -> bool:
        return False

    async def generate(
        self,
        question: str,
        hits: Sequence[SearchHit],
        history: Sequence[ChatTurn],
        options: GenerationOptions = NO_OPTIONS,
    ) -> Generated:
        return Generated(extractive_answer(question, hits))

    async def stream(
        self,
        question: str,
        hits: Sequence[SearchHit],
        history: Sequence[ChatTurn],
        options: GenerationOptions = NO_OPTIONS,
    ) -> AsyncIterator[str | GenerationEnd]:
        for line in extractive_answer(question, hits).splitlines(keepends=True):
            yield line
        yield GenerationEnd()
