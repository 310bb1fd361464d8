"""Matching a loose name ("fastapi", "hatchet python sdk") to indexed repositories.

The rule, kept simple so its results are predictable: names and query are cut into
lowercase words at every character that is not a letter or digit. A query word scores 1
for a repository that has it as a word, and 0.5 when one contains the other (words of 3+
letters). Words most repositories share ("docs") weigh less: a word's weight is 1 over
the number of repositories that have it. A repository's score is the weighted mean over
the query's words, plus 1 when the query is the repository's name whole (`fastapi`,
`tiangolo/fastapi`), or plus 0.5 when the query contains that name among other words
(`hatchet python sdk` names `hatchet-dev/hatchet`), so repositories named in the query rank first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from itertools import chain
from typing import TypeVar

K = TypeVar("K")

_WORD = re.compile(r"[a-z0-9]+")
WHOLE_NAME_BONUS = 1.0
NAME_IN_QUERY_BONUS = 0.5
PARTIAL = 0.5
MIN_PARTIAL_LENGTH = 3


def name_words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def rank_by_name(query: str, candidates: Mapping[K, Sequence[str]]) -> list[tuple[K, float]]:
    """Candidates (each known by several names: id, source, web URL) that match, best first."""
    wanted = name_words(query)
    if not wanted:
        return []
    words = {key: {w for name in names for w in name_words(name)} for key, names in candidates.items()}
    weights = [1 / max(1, sum(1 for ws in words.values() if _word_score(w, ws) > 0)) for w in wanted]
    ranked: list[tuple[K, float]] = []
    for key, names in candidates.items():
        matched = sum(weight * _word_score(w, words[key]) for w, weight in zip(wanted, weights, strict=True))
        if matched > 0:
            ranked.append((key, matched / sum(weights) + _name_bonus(wanted, names)))
    return sorted(ranked, key=lambda pair: -pair[1])


def _word_score(word: str, words: set[str]) -> float:
    if word in words:
        return 1.0
    if len(word) >= MIN_PARTIAL_LENGTH and any(
        len(other) >= MIN_PARTIAL_LENGTH and (word in other or other in word) for other in words
    ):
        return PARTIAL
    return 0.0


def _name_bonus(wanted: list[str], names: Sequence[str]) -> float:
    """Whether the query is, or contains, the last one or two path segments of one of the names."""
    bonus = 0.0
    for name in names:
        segments = [words for part in re.split(r"[/:]", name.lower()) if (words := name_words(part))]
        tails = [list(chain.from_iterable(tail)) for tail in (segments[-1:], segments[-2:]) if tail]
        if wanted in tails:
            return WHOLE_NAME_BONUS
        if tails and set(tails[0]) <= set(wanted):
            bonus = NAME_IN_QUERY_BONUS
    return bonus
