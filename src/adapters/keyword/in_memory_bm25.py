"""InMemoryBm25Index: BM25 postings of the live chunks, kept in each process and synced from the store.

Chroma 1.5 refuses sparse vector indexes outside Chroma Cloud ("Sparse vector indexing is not
enabled in local", on `PersistentClient` and on `chroma run` alike), so the keyword leg cannot
live in Chroma. Instead every process that searches keeps an inverted index of the chunks its
collections' live manifests name, read from the vector store, which stays the one source of
truth: API replicas sharing a Chroma server all derive the same keyword index from it, and
nothing else has to be deployed, written by index jobs or kept consistent.

It follows the manifests it is given: when a repository's manifest is a new one, only the file
versions it adds are read from the store and only the ones it drops are removed, so the keyword
leg changes exactly at the manifest swap; an unchanged manifest costs nothing. Chunks are
scored only when the manifest handed in with the query names their file version.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from application.ports import KeywordIndex, VectorIndex
from domain.answers import SearchHit
from domain.bm25 import Bm25Postings
from domain.chunking import embedding_text
from domain.documents import Chunk, Manifest
from domain.keywords import keyword_terms

WHOLE_READ_SHARE = 0.5
"""When a manifest adds more than this share of its file versions, read all the repository's chunks at once."""


@dataclass
class _Repository:
    manifest: Manifest
    chunk_ids: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    """(path, blob_sha) -> ids of that file version's chunks."""


@dataclass
class _Collection:
    postings: Bm25Postings = field(default_factory=Bm25Postings)
    chunks: dict[str, Chunk] = field(default_factory=dict)
    repositories: dict[str, _Repository] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class InMemoryBm25Index(KeywordIndex):
    def __init__(self, vectors: VectorIndex) -> None:
        self._vectors = vectors
        self._collections: dict[str, _Collection] = {}

    async def query(
        self, collection: str, terms: Mapping[str, float], k: int, live: Mapping[str, Manifest]
    ) -> list[SearchHit]:
        state = self._collections.setdefault(collection, _Collection())
        async with state.lock:
            for repository, manifest in live.items():
                await self._sync(collection, state, repository, manifest)
            if not terms:
                return []
            # Scoring is pure Python over the postings: off the event loop for large collections.
            best = await asyncio.to_thread(state.postings.top, terms, k, lambda key: _is_live(state.chunks[key], live))
        return [SearchHit(state.chunks[key], score, keyword_score=score) for key, score in best]

    async def scores(self, collection: str, terms: Mapping[str, float], ids: Collection[str]) -> dict[str, float]:
        state = self._collections.get(collection)
        if state is None or not terms or not ids:
            return {}
        async with state.lock:
            scored = await asyncio.to_thread(state.postings.scores, terms)
        return {key: scored[key] for key in ids if key in scored}

    async def _sync(self, collection: str, state: _Collection, repository: str, manifest: Manifest) -> None:
        known = state.repositories.get(repository)
        if known is not None and known.manifest is manifest:
            return
        old = known or _Repository(manifest)
        rechunked = known is not None and known.manifest.chunked_by != manifest.chunked_by
        old_versions = set(old.manifest.files.items()) if known and not rechunked else set()
        if rechunked:
            self._forget(state, old)
        new_versions = set(manifest.files.items())
        gone = [key for version in old_versions - new_versions for key in old.chunk_ids.pop(version, [])]
        for key in gone:
            state.postings.remove(key)
            del state.chunks[key]
        added = new_versions - old_versions
        if added:
            whole = len(added) > WHOLE_READ_SHARE * len(new_versions)
            shas = None if whole else {sha for _, sha in added}
            stored = await self._vectors.chunks(collection, repository, shas)
            for chunk in stored:
                version = (chunk.path, chunk.blob_sha)
                if version not in added or chunk.id in state.chunks or not manifest.names(chunk):
                    continue
                old.chunk_ids.setdefault(version, []).append(chunk.id)
                state.chunks[chunk.id] = chunk
                state.postings.add(chunk.id, keyword_terms(embedding_text(chunk)))
        old.manifest = manifest
        state.repositories[repository] = old

    @staticmethod
    def _forget(state: _Collection, repository: _Repository) -> None:
        for key in (key for keys in repository.chunk_ids.values() for key in keys):
            state.postings.remove(key)
            del state.chunks[key]
        repository.chunk_ids.clear()


def _is_live(chunk: Chunk, live: Mapping[str, Manifest]) -> bool:
    manifest = live.get(chunk.repository)
    return manifest is not None and manifest.names(chunk)
