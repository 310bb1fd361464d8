"""Measure retrieval against questions whose answers' files are known."""

from __future__ import annotations

from collections.abc import Sequence

from application.search import SearchDocuments, SearchRequest
from domain.errors import InvalidInput
from domain.evaluation import EvalCase, EvalReport, first_gold_rank, score


class EvaluateRetrieval:
    def __init__(self, search: SearchDocuments) -> None:
        self._search = search

    async def execute(self, cases: Sequence[EvalCase], collection: str, k: int) -> EvalReport:
        if not cases:
            raise InvalidInput("the evaluation file has no cases")
        ranks: list[int | None] = []
        for case in cases:
            hits = await self._search.execute(SearchRequest(case.question, k, collection))
            ranks.append(first_gold_rank([h.chunk.path for h in hits], case.gold))
        return score(ranks, [c.question for c in cases], k)
