"""Search the live version of indexed repositories."""

from __future__ import annotations

from dataclasses import dataclass, replace

from application.ports import Embedder, ManifestStore, VectorIndex
from domain.answers import SearchHit, citation_url
from domain.collections import DEFAULT_COLLECTION, validate_collection
from domain.documents import Manifest
from domain.errors import InvalidInput
from domain.retrieval import RetrievalMode

MAX_K = 50
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
(x WIDENING per round) until it has k live hits, the index has no more, or this bound is reached."""


@dataclass(frozen=True)
class SearchRequest:
    query: str
    k: int = 5
    collection: str = DEFAULT_COLLECTION
    repository: str | None = None
    mode: RetrievalMode | None = None
    """None: the configured default (REPOCHAT_RETRIEVAL)."""
    keyword_context: str = ""
    """More text whose terms join the keyword leg's query only (earlier turns of a conversation)."""


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
        manifests = await self._live_manifests(collection, request.repository)
        if not manifests:
            return []
        vector = await self._embedder.embed_query(query)
        wanted, live, filtered = request.k * OVERFETCH, None, False
        while True:
            candidates = await self._index.query(
                collection, self._embedder.name, vector, wanted, request.repository, live
            )
            hits = _live(candidates, manifests, request.k)
            if len(hits) == request.k or len(candidates) < wanted:
                return hits
            if not filtered:
                filtered, live = True, _live_versions(manifests)
                if live is not None:
                    continue
            if wanted >= MAX_CANDIDATES:
                return hits
            wanted = min(wanted * WIDENING, MAX_CANDIDATES)

    async def _live_manifests(self, collection: str, repository: str | None) -> dict[str, Manifest]:
        """The live manifest of each repository searched, by repository id."""
        if repository is not None:
            manifest = await self._manifests.get(collection, repository)
            return {repository: manifest} if manifest else {}
        return {manifest.repository: manifest for _, manifest in await self._manifests.entries(collection)}


def _live_versions(manifests: dict[str, Manifest]) -> set[str] | None:
    """The blob SHAs of every live file version, or None when there are too many to filter by."""
    versions = {sha for manifest in manifests.values() for sha in manifest.files.values()}
    return versions if 0 < len(versions) <= MAX_FILTERED_VERSIONS else None


def _live(candidates: list[SearchHit], manifests: dict[str, Manifest], k: int) -> list[SearchHit]:
    """The first k candidates of live file versions, with their commit permalinks."""
    hits: list[SearchHit] = []
    for hit in candidates:
        chunk = hit.chunk
        manifest = manifests.get(chunk.repository)
        if manifest is None or not manifest.is_live(chunk.path, chunk.blob_sha):
            continue
        url = citation_url(manifest.web_url, manifest.commit, chunk.path, chunk.start_line, chunk.end_line)
        hits.append(SearchHit(replace(chunk, commit=manifest.commit, url=url), hit.score))
        if len(hits) == k:
            break
    return hits
