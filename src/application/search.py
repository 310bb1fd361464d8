"""Search the live version of indexed repositories."""

from __future__ import annotations

from dataclasses import dataclass, replace

from application.ports import Embedder, ManifestStore, VectorIndex
from domain.answers import SearchHit, citation_url
from domain.collections import DEFAULT_COLLECTION, validate_collection
from domain.documents import Manifest
from domain.errors import InvalidInput

MAX_K = 50
OVERFETCH = 2
"""Hits of file versions not (or no longer) live are dropped, so ask the index for more."""
WIDENING = 4
MAX_CANDIDATES = 2000
"""While an index job writes a new version, its not-yet-live chunks can outrank every live one:
the search widens its candidate list (x WIDENING per round) until it has k live hits, the
index has no more, or this bound is reached."""


@dataclass(frozen=True)
class SearchRequest:
    query: str
    k: int = 5
    collection: str = DEFAULT_COLLECTION
    repository: str | None = None


class SearchDocuments:
    def __init__(self, embedder: Embedder, index: VectorIndex, manifests: ManifestStore) -> None:
        self._embedder = embedder
        self._index = index
        self._manifests = manifests

    async def execute(self, request: SearchRequest) -> list[SearchHit]:
        query = request.query.strip()
        if not query:
            raise InvalidInput("the query is empty")
        if not 1 <= request.k <= MAX_K:
            raise InvalidInput(f"k must be between 1 and {MAX_K}")
        collection = validate_collection(request.collection)
        vector = await self._embedder.embed_query(query)
        manifests: dict[str, Manifest | None] = {}
        wanted = request.k * OVERFETCH
        while True:
            candidates = await self._index.query(collection, self._embedder.name, vector, wanted, request.repository)
            hits = await self._live(collection, candidates, manifests, request.k)
            if len(hits) == request.k or len(candidates) < wanted or wanted >= MAX_CANDIDATES:
                return hits
            wanted = min(wanted * WIDENING, MAX_CANDIDATES)

    async def _live(
        self, collection: str, candidates: list[SearchHit], manifests: dict[str, Manifest | None], k: int
    ) -> list[SearchHit]:
        """The first k candidates of live file versions, with their commit permalinks."""
        hits: list[SearchHit] = []
        for hit in candidates:
            chunk = hit.chunk
            if chunk.repository not in manifests:
                manifests[chunk.repository] = await self._manifests.get(collection, chunk.repository)
            manifest = manifests[chunk.repository]
            if manifest is None or not manifest.is_live(chunk.path, chunk.blob_sha):
                continue
            url = citation_url(manifest.web_url, manifest.commit, chunk.path, chunk.start_line, chunk.end_line)
            hits.append(SearchHit(replace(chunk, commit=manifest.commit, url=url), hit.score))
            if len(hits) == k:
                break
        return hits
