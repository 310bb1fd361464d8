"""Okapi BM25 over an in-memory inverted index of keyword terms, updated one document at a time."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping

K1 = 1.2
B = 0.75


class Bm25Postings:
    """Term -> {document key: term frequency}, with the lengths BM25 normalises by.

    Documents are added and removed individually, so an index follows a repository's file
    versions without being rebuilt; scores use the statistics of whatever it holds now.
    """

    def __init__(self, k1: float = K1, b: float = B) -> None:
        self._k1 = k1
        self._b = b
        self._postings: dict[str, dict[str, int]] = {}
        self._lengths: dict[str, int] = {}
        self._terms: dict[str, tuple[str, ...]] = {}
        """Each document's distinct terms, so removing it touches only its own postings."""
        self._total_length = 0

    def __len__(self) -> int:
        return len(self._lengths)

    def __contains__(self, key: object) -> bool:
        return key in self._lengths

    def add(self, key: str, terms: Iterable[str]) -> None:
        self.remove(key)
        counts = Counter(terms)
        length = sum(counts.values())
        self._lengths[key] = length
        self._terms[key] = tuple(counts)
        self._total_length += length
        for term, count in counts.items():
            self._postings.setdefault(term, {})[key] = count

    def remove(self, key: str) -> None:
        length = self._lengths.pop(key, None)
        if length is None:
            return
        self._total_length -= length
        for term in self._terms.pop(key):
            documents = self._postings[term]
            del documents[key]
            if not documents:
                del self._postings[term]

    def scores(self, query: Mapping[str, float]) -> dict[str, float]:
        """BM25 of every document matching a query term; `query` maps each term to its weight."""
        count = len(self._lengths)
        if not count:
            return {}
        average = self._total_length / count or 1.0
        k1, b, lengths = self._k1, self._b, self._lengths
        scores: dict[str, float] = {}
        for term, weight in query.items():
            documents = self._postings.get(term)
            if not documents:
                continue
            idf = weight * math.log(1.0 + (count - len(documents) + 0.5) / (len(documents) + 0.5))
            for key, frequency in documents.items():
                norm = k1 * (1.0 - b + b * lengths[key] / average)
                scores[key] = scores.get(key, 0.0) + idf * frequency * (k1 + 1.0) / (frequency + norm)
        return scores

    def top(self, query: Mapping[str, float], k: int, accept: Callable[[str], bool]) -> list[tuple[str, float]]:
        """The k best accepted documents, best first (ties broken by key, so results are stable)."""
        ranked = sorted(self.scores(query).items(), key=lambda item: (-item[1], item[0]))
        best: list[tuple[str, float]] = []
        for key, score in ranked:
            if accept(key):
                best.append((key, score))
                if len(best) == k:
                    break
        return best
