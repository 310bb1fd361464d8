"""Search the live version of indexed repositories: dense, keyword, or both fused (hybrid).

`Search` is the port the use cases built on search (answering, evaluation) take: `SearchDocuments`,
or a decorator around it (the metrics' timing).

Each leg returns chunks of live file versions only, best first; hybrid fuses the two rankings
by reciprocal rank fusion, and the top hits are then capped per file so one page cannot fill
them (domain.ranking). Hits leave with the permalink of the live commit they belong to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from application.access import RepositoryAccess
from application.ports.embeddings import Embedder
from application.ports.stores import KeywordIndex, ManifestStore, QueryVector, VectorIndex, VectorQuery
from domain.access import LOCAL_USER, Caller
from domain.answers import SearchHit, citation_url
from domain.collections import DEFAULT_COLLECTION, validate_collection
from domain.documents import Manifest
from domain.keywords import keyword_terms
from domain.limits import InputLimits
from domain.named_symbols import NAMED_SYMBOL_WEIGHT, weigh_named_symbols
from domain.passage_kinds import weigh_kinds
from domain.ranking import limit_per_file, reciprocal_rank_fusion
from domain.refs import RefChoice, live_manifests, not_indexed_at
from domain.retrieval import RetrievalMode, RetrievalPolicy

CANDIDATES_PER_HIT = 4
MIN_CANDIDATES = 30
"""Each leg ranks this many live chunks (at least), so fusion and the per-file cap have room to work."""
CONTEXT_WEIGHT = 0.5
"""The weight of a keyword_context term (earlier turns) beside a term of the query itself."""
OVERFETCH = 2
"""Hits of file versions not (or no longer) live are dropped, so ask the index for more."""
MAX_FILTERED_VERSIONS = 5000
"""When chunks of versions that are not live (an index job writing before its swap) crowd the top,
the index is asked again for chunks of live file versions only (by blob SHA). A filtered query
costs several times a plain one, so it is the fallback, not the first try; above this many live
versions the filter would be too large to send, and the search relies on widening alone."""
WIDENING = 4
MAX_CANDIDATES = 2000
"""A blob SHA can be live under one path and not another: the search widens its candidate list
(x WIDENING per round) until it has enough live hits, the index has no more, or this bound is reached."""


@dataclass(frozen=True)
class SearchRequest:
    query: str
    k: int = 5
    collection: str = DEFAULT_COLLECTION
    repository: str | None = None
    mode: RetrievalMode | None = None
    """None: the configured default (`RetrievalPolicy.mode`, REPOCHAT_RETRIEVAL)."""
    keyword_context: str = ""
    """More text whose terms join the keyword leg's query only (earlier turns of a conversation)."""
    ref: str | None = None
    """The ref to search each repository at (`HEAD`: the default branch); None: its default branch,
    else its ref indexed last (`domain.refs`)."""
    caller: Caller = LOCAL_USER
    """Who asks: only repositories it may see are searched (`application.access`)."""


@dataclass(frozen=True)
class SearchResults:
    hits: tuple[SearchHit, ...]
    """Best first, each with the permalink of its live commit."""
    mode: RetrievalMode
    """The mode that ranked them: the request's, else the configured default."""


class Search(Protocol):
    async def execute(self, request: SearchRequest) -> SearchResults:
        """InvalidInput when the request is outside `InputLimits`; NotFound when no repository searched
        is indexed at the ref asked for."""
        ...


@dataclass
class SearchDocuments(Search):
    embedder: Embedder
    index: VectorIndex
    manifests: ManifestStore
    keywords: KeywordIndex
    policy: RetrievalPolicy = field(default_factory=RetrievalPolicy)
    limits: InputLimits = field(default_factory=InputLimits)
    access: RepositoryAccess = field(default_factory=RepositoryAccess)

    async def execute(self, request: SearchRequest) -> SearchResults:
        self.limits.check_text(request.query, "query")
        self.limits.check_k(request.k)
        query, mode = request.query.strip(), self.policy.mode_for(request.mode)
        return SearchResults(tuple(await self._ranked(request, query, mode)), mode)

    async def _ranked(self, request: SearchRequest, query: str, mode: RetrievalMode) -> list[SearchHit]:
        collection = validate_collection(request.collection)
        pairs = await self.manifests.entries(collection)
        await self.keywords.retain(collection, {(m.repository, m.ref) for _, m in pairs})
        visible = [m for _, m in await self.access.manifests(request.caller, pairs, request.repository)]
        manifests = _live_manifests(visible, collection, request.repository, RefChoice.of(request.ref))
        if not manifests:
            return []
        repositories = _filter(request, manifests, len(visible) < len(pairs))
        policy = self.policy
        depth = max(request.k * CANDIDATES_PER_HIT, MIN_CANDIDATES)
        terms = dict.fromkeys(keyword_terms(request.keyword_context), CONTEXT_WEIGHT)
        terms |= dict.fromkeys(keyword_terms(query), 1.0)
        if mode == RetrievalMode.KEYWORD:
            ranked = await self.keywords.query(collection, terms, depth, manifests)
        else:
            vector = await self.embedder.embed_query(query)
            if mode == RetrievalMode.DENSE:
                ranked = await self._dense(vector, collection, repositories, manifests, depth)
            else:
                hybrid = await self._hybrid(vector, terms, collection, repositories, manifests, depth)
                weighed = weigh_kinds(hybrid, query, policy.kind_weights)
                ranked = weigh_named_symbols(weighed, query, NAMED_SYMBOL_WEIGHT)
        return [_cited(hit, manifests) for hit in limit_per_file(ranked, policy.max_hits_per_file, request.k)]

    async def _hybrid(
        self,
        vector: Sequence[float],
        terms: dict[str, float],
        collection: str,
        repositories: frozenset[str] | None,
        manifests: dict[str, Manifest],
        depth: int,
    ) -> list[SearchHit]:
        """Both legs' candidates, each scored by both legs, fused.

        A candidate only one leg found is scored by the other too (its cosine similarity, its
        BM25), so both rankings cover the same pool and a passage one leg ranks just past its
        depth still counts for that leg. The keyword index scores its hits by the query vector where
        it holds their vectors; the vector index scores the rest.
        """
        dense, keyword = await asyncio.gather(
            self._dense(vector, collection, repositories, manifests, depth, terms),
            self.keywords.query(collection, terms, depth, manifests, QueryVector(self.embedder.name, vector)),
        )
        held = {hit.chunk.id: hit.similarity for hit in keyword if hit.similarity is not None}
        dense_scores = held | {hit.chunk.id: hit.similarity for hit in dense}  # the dense leg's own, where it has one
        unscored = {hit.chunk.id for hit in keyword} - dense_scores.keys()
        dense_scores |= await self.index.similarities(collection, self.embedder.name, vector, unscored)
        keyword_scores = {hit.chunk.id: hit.keyword_score for hit in dense + keyword}
        pool = {hit.chunk.id: hit for hit in keyword} | {hit.chunk.id: hit for hit in dense}
        scored = [
            SearchHit(hit.chunk, 0.0, dense_scores.get(key), keyword_scores.get(key)) for key, hit in pool.items()
        ]
        by_similarity = sorted((h for h in scored if h.similarity is not None), key=lambda h: -(h.similarity or 0.0))
        by_bm25 = sorted((h for h in scored if h.keyword_score), key=lambda h: -(h.keyword_score or 0.0))
        policy = self.policy
        weights = [policy.dense_weight, policy.keyword_weight]
        return reciprocal_rank_fusion([by_similarity, by_bm25], weights, policy.rrf_k, policy.fuse_files)

    async def _dense(
        self,
        vector: Sequence[float],
        collection: str,
        repositories: frozenset[str] | None,
        manifests: dict[str, Manifest],
        depth: int,
        terms: dict[str, float] | None = None,
    ) -> list[SearchHit]:
        """The `depth` nearest live chunks, with their cosine similarity (and their BM25 for `terms`, if any)."""
        wanted, live, filtered = depth * OVERFETCH, None, False
        while True:
            query = VectorQuery(collection, self.embedder.name, vector, wanted, repositories, live)
            nearest = await self.index.query(query)
            hits = await self._live(collection, nearest, manifests, depth, terms)
            if len(hits) == depth or len(nearest) < wanted:
                return hits
            if not filtered:
                filtered, live = True, _live_versions(manifests)
                if live is not None:
                    continue
            if wanted >= MAX_CANDIDATES:
                return hits
            wanted = min(wanted * WIDENING, MAX_CANDIDATES)

    async def _live(
        self,
        collection: str,
        nearest: list[tuple[str, float]],
        manifests: dict[str, Manifest],
        k: int,
        terms: dict[str, float] | None,
    ) -> list[SearchHit]:
        """The first k of the `nearest` chunks that are of live file versions, with their cosine similarity
        and their BM25 for `terms`.

        Their chunks are read from the keyword index, a page of k at a time, nearest first: most
        searches need only the first page."""
        hits: list[SearchHit] = []
        for start in range(0, len(nearest), k):
            page = nearest[start : start + k]
            chunks = await self.keywords.chunks(collection, [chunk_id for chunk_id, _ in page], manifests, terms)
            for chunk_id, similarity in page:
                chunk, bm25 = chunks.get(chunk_id, (None, None))
                manifest = manifests.get(chunk.repository) if chunk is not None else None
                if chunk is not None and manifest is not None and manifest.names(chunk):
                    hits.append(SearchHit(chunk, similarity, similarity, bm25))
                    if len(hits) == k:
                        return hits
        return hits


def _live_manifests(
    entries: list[Manifest], collection: str, repository: str | None, choice: RefChoice
) -> dict[str, Manifest]:
    """The live manifest of each repository searched (of `entries`, the collection's), at the ref chosen, by
    repository id.

    A pinned ref that no repository searched is indexed at is NotFound, naming the refs that are.
    """
    searched = [m for m in entries if repository in (None, m.repository)]
    picked = live_manifests(searched, choice, repository)
    if searched and not picked:
        where = f"repository {repository!r}" if repository else f"collection {collection!r}"
        raise not_indexed_at(where, choice.ref, searched)
    return picked


def _filter(request: SearchRequest, manifests: dict[str, Manifest], hidden: bool) -> frozenset[str] | None:
    """The repositories the dense leg is asked for: the one the request names, or those searched when the
    caller may not see every one (so the nearest chunks are the caller's and results are never short);
    None for every repository of the collection."""
    if request.repository is not None or hidden:
        return frozenset(manifests)
    return None


def _live_versions(manifests: dict[str, Manifest]) -> set[str] | None:
    """The blob SHAs of every live file version, or None when there are too many to filter by."""
    versions = {sha for manifest in manifests.values() for sha in manifest.files.values()}
    return versions if 0 < len(versions) <= MAX_FILTERED_VERSIONS else None


def _cited(hit: SearchHit, manifests: dict[str, Manifest]) -> SearchHit:
    """The hit with the live commit and the permalink of its lines."""
    chunk, manifest = hit.chunk, manifests[hit.chunk.repository]
    url = citation_url(manifest.web_url, manifest.commit, chunk.path, chunk.start_line, chunk.end_line)
    return replace(hit, chunk=replace(chunk, commit=manifest.commit, url=url))
