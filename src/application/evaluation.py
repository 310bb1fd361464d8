"""Measure retrieval against questions whose answers' files are known (file-level, see domain.evaluation)."""

from __future__ import annotations

from collections.abc import Sequence

from application.search import Search, SearchRequest
from domain.errors import InvalidInput
from domain.evaluation import EvalCase, EvalReport, score_case, summarize


class EvaluateRetrieval:
    def __init__(self, search: Search) -> None:
        self._search = search

    async def execute(self, cases: Sequence[EvalCase], collection: str, k: int) -> EvalReport:
        if not cases:
            raise InvalidInput("the evaluation file has no cases")
        scores = []
        for case in cases:
            found = await self._search.execute(SearchRequest(case.question, k, collection))
            scores.append(score_case(case, [h.chunk.path for h in found.hits], k))
        return summarize(scores, k)
