"""The keyword index repochat had before tantivy, kept as the scale benchmark's baseline (not used by repochat).

InMemoryBm25Index: BM25 postings of the live chunks, kept in each process and synced from the store,
rebuilt by every process at its first search, scoring every match of a query and sorting them all.

Chroma 1.5 refuses sparse vector indexes outside Chroma Cloud ("Sparse vector indexing is not
enabled in local", on `PersistentClient` and on `chroma run` alike), so the keyword leg cannot
live in Chroma. Instead every process that searches keeps an inverted index of the chunks its
collections' live manifests name, read from the vector store, which stays the one source of
truth: API replicas sharing a Chroma server all derive the same keyword index from it, and
nothing else has to be deployed, written by index jobs or kept consistent.

It follows the manifests it is given, each ref of a repository on its own: when a ref's manifest
is a new one, only the file versions it adds are read from the store (unless another synced ref
of the repository holds them, cut by the same chunker) and only the ones it drops are released,
so the keyword leg changes exactly at the manifest swap; an unchanged manifest, or a query at
another synced ref, costs nothing. Refs share chunks: each is held once, counted by the refs that
name it, and leaves the postings when none does. Chunks are scored only when the manifest handed
in with the query names them.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field

from adapters.vectorstore.chroma_index import ChromaVectorIndex
from application.ports.stores import KeywordIndex, QueryVector, Terms
from domain.answers import SearchHit
from domain.chunking import embedding_text
from domain.documents import Chunk, Manifest
from domain.keywords import keyword_terms

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


WHOLE_READ_SHARE = 0.5
"""When more than this share of a manifest's file versions must be read, read all the repository's chunks at once."""

_Version = tuple[str, str]
"""(path, blob_sha): one file version."""


@dataclass
class _Ref:
    manifest: Manifest
    """The manifest of this ref last synced."""
    chunk_ids: dict[_Version, list[str]] = field(default_factory=dict)
    """Every file version of `manifest` -> the ids of its chunks (cut by `manifest.chunked_by`)."""


@dataclass
class _Collection:
    postings: Bm25Postings = field(default_factory=Bm25Postings)
    chunks: dict[str, Chunk] = field(default_factory=dict)
    holders: Counter[str] = field(default_factory=Counter)
    """Chunk id -> how many synced refs name it; a chunk is in `chunks` and `postings` while it is above 0."""
    refs: dict[str, dict[str | None, _Ref]] = field(default_factory=dict)
    """Repository id -> ref (None: the default branch) -> what was synced of it."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class InMemoryBm25Index(KeywordIndex):
    def __init__(self, vectors: ChromaVectorIndex) -> None:
        self._vectors = vectors
        self._collections: dict[str, _Collection] = {}

    async def query(
        self,
        collection: str,
        terms: Mapping[str, float],
        k: int,
        live: Mapping[str, Manifest],
        scored_by: QueryVector | None = None,  # noqa: ARG002  (it holds no vectors: the search asks the store)
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

    async def chunks(
        self, collection: str, ids: Collection[str], live: Mapping[str, Manifest], terms: Terms | None = None
    ) -> dict[str, tuple[Chunk, float | None]]:
        state = self._collections.setdefault(collection, _Collection())
        async with state.lock:
            for repository, manifest in live.items():
                await self._sync(collection, state, repository, manifest)
            scored = await asyncio.to_thread(state.postings.scores, terms) if terms else {}
        return {key: (state.chunks[key], scored.get(key)) for key in ids if key in state.chunks}

    async def retain(self, collection: str, indexed: Collection[tuple[str, str | None]]) -> None:
        """The old index kept forgotten repositories' postings (its queries filtered them out)."""

    async def _sync(self, collection: str, state: _Collection, repository: str, manifest: Manifest) -> None:
        refs = state.refs.setdefault(repository, {})
        known = refs.get(manifest.ref)
        if known is not None and known.manifest is manifest:
            return
        rechunked = known is not None and known.manifest.chunked_by != manifest.chunked_by
        held = known.chunk_ids if known is not None and not rechunked else {}
        versions = set(manifest.files.items())
        kept = {version: held[version] for version in versions if version in held}
        added = versions - kept.keys()
        shared = _held_elsewhere(refs, manifest, added)
        read = await self._read(collection, repository, manifest, added - shared.keys())
        for chunk in (chunk for chunks in read.values() for chunk in chunks):
            if chunk.id not in state.chunks:
                state.chunks[chunk.id] = chunk
                state.postings.add(chunk.id, keyword_terms(embedding_text(chunk)))
        chunk_ids = kept | shared | {version: [chunk.id for chunk in chunks] for version, chunks in read.items()}
        state.holders.update(key for version in added for key in chunk_ids[version])
        if known is not None:
            _release(state, (key for version, keys in known.chunk_ids.items() if version not in kept for key in keys))
        refs[manifest.ref] = _Ref(manifest, chunk_ids)

    async def _read(
        self, collection: str, repository: str, manifest: Manifest, versions: set[_Version]
    ) -> dict[_Version, list[Chunk]]:
        """The chunks `manifest` names of `versions`, read from the store (all the repository's, when most are)."""
        if not versions:
            return {}
        whole = len(versions) > WHOLE_READ_SHARE * len(manifest.files)
        stored = await self._vectors.chunks(collection, repository, None if whole else {sha for _, sha in versions})
        found: dict[_Version, dict[str, Chunk]] = {version: {} for version in versions}
        for chunk in stored:
            chunks = found.get((chunk.path, chunk.blob_sha))
            if chunks is not None and manifest.names(chunk):
                chunks[chunk.id] = chunk
        return {version: list(chunks.values()) for version, chunks in found.items()}


def _held_elsewhere(
    refs: Mapping[str | None, _Ref], manifest: Manifest, versions: set[_Version]
) -> dict[_Version, list[str]]:
    """The chunk ids of those of `versions` another synced ref of the repository holds, cut by the same chunker."""
    found: dict[_Version, list[str]] = {}
    for ref, other in refs.items():
        if ref == manifest.ref or other.manifest.chunked_by != manifest.chunked_by:
            continue
        found |= {
            version: other.chunk_ids[version] for version in versions - found.keys() if version in other.chunk_ids
        }
    return found


def _release(state: _Collection, keys: Iterable[str]) -> None:
    """One ref fewer names each of `keys`: those no ref names any more leave the postings."""
    for key in keys:
        state.holders[key] -= 1
        if state.holders[key] <= 0:
            del state.holders[key]
            state.postings.remove(key)
            del state.chunks[key]


def _is_live(chunk: Chunk, live: Mapping[str, Manifest]) -> bool:
    manifest = live.get(chunk.repository)
    return manifest is not None and manifest.names(chunk)
