"""TantivyKeywordIndex: the keyword leg on tantivy, one on-disk index per collection, per process.

Chroma 1.5 refuses sparse vector indexes outside Chroma Cloud, so the keyword leg cannot live in
Chroma; the vector store stays the one source of truth and this index follows it. Each process
that searches keeps its own index in a folder of its own (REPOCHAT_KEYWORD_INDEX_DIR, by default
`keyword/` in the data folder): API replicas sharing a Chroma server each derive the same index
from it, and nothing else has to be deployed or written by index jobs.

It follows the manifests it is given, each ref of a repository on its own (`RefVersions`): when a
ref's manifest is a new one, only the file versions no synced ref held are read from the store
and written, and only the ones no ref names any more are deleted, in one commit, so the keyword
leg changes exactly at the manifest swap; an unchanged manifest, or a query at another synced
ref, writes nothing. A query sees the chunks of the versions its manifests name only: the held
versions a ref does not name are excluded by term, and repositories not searched by a filter.

What each ref names is kept beside the index (`SyncedRefs`), so a restarted process opens its
index and answers at once; a process that died between a commit and that record left a marker,
and the repository it was writing is read again whole at its next query.

tantivy lets one process write a folder. A second process finding it taken (`repochat search` on
the data folder `repochat serve` uses, both on a Chroma server) does not fail: it keeps its index
in memory, caught up from the store at its first query, as a new replica would, and logs why.

Chunks are indexed by the terms `domain.keywords` gives, computed once when the chunk was written
and stored beside it in Chroma (`KeywordChunk`: no replica recomputes them), pre-tokenised, split by
tantivy at whitespace only, so the engine matches exactly what BM25 matched before, with tantivy's
BM25 (k1 1.2, b 0.75, the same idf) and top-k by block-max WAND instead of scoring every match.
tantivy releases the GIL: writes and searches run in threads, off the event loop.

A chunk's vector, when the reader gives it, is kept as the store holds it (float32, labelled with the
collection's embedder): a query given the query vector scores its hits by the same cosine as the store.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tantivy

from adapters.cosine import cosine_similarities
from adapters.domain_json import CHUNK
from adapters.keyword.chunk_reader import ChunkReader, KeywordChunk
from adapters.keyword.ref_versions import RefVersions, Swap, Version, versions_of
from adapters.keyword.synced_refs import SyncedRefs
from application.ports.stores import KeywordIndex, QueryVector, Terms
from domain.answers import SearchHit
from domain.documents import Chunk, Manifest
from domain.errors import DataDirBusy
from domain.keywords import name_terms

log = logging.getLogger(__name__)

WHOLE_READ_SHARE = 0.5
"""When more than this share of a manifest's file versions must be read, read all the repository's chunks at once."""
READ_AHEAD = 3
"""Repositories a catch-up reads from the store at once: Chroma's reads run in threads, beside the writing
of the repository before, so a new replica of a collection of many repositories catches up faster."""
FLOAT32 = np.dtype(np.float32)
"""How a chunk's vector is kept: as the store holds it."""
WRITER_HEAP_BYTES = 64_000_000
"""The indexing buffer of each collection's writer (tantivy flushes a segment when it is full)."""


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("repository", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("version", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("terms", tokenizer_name="whitespace", index_option="freq")
    builder.add_text_field("names", tokenizer_name="whitespace", index_option="freq")
    builder.add_bytes_field("chunk", stored=True)
    builder.add_bytes_field("vector", stored=True)
    builder.add_text_field("embedder", stored=True, tokenizer_name="raw", index_option="basic")
    return builder.build()


SCHEMA = _schema()
LAYOUT = "3"
"""Part of each collection's folder names (`index-3`, `refs-3`): an index of another schema is another folder.

2: the `names` field (the terms of a chunk's file name and heading trail, `domain.keywords.name_terms`).
3: each chunk's stored vector and its embedder (`vector`, `embedder`), when the chunk reader gives them
(REPOCHAT_KEYWORD_VECTORS), so a hybrid search scores the keyword leg's hits by the query vector here
instead of reading their vectors from the store.
An earlier build's folders are left as they are; a process of this build never reads them."""
NAMES_WEIGHT = 0.5
"""A query term found in a chunk's names (its file, its symbols or headings) adds its BM25 there, times this,
to its BM25 in the chunk's text: the passage that is a function outranks the ones that call it."""


def version_key(repository: str, version: Version) -> str:
    """The term every chunk of one file version of `repository` is indexed under."""
    return hashlib.sha1("\0".join((repository, *version)).encode(), usedforsecurity=False).hexdigest()


@dataclass
class _CollectionIndex:
    """One collection's tantivy index, its writer (held: one process per folder), and what each ref names."""

    index: tantivy.Index
    writer: tantivy.IndexWriter
    synced: SyncedRefs
    refs: dict[str, RefVersions]
    manifests: dict[tuple[str, str | None], Manifest] = field(default_factory=dict)
    """The manifest object each ref was last synced with: the same object again costs nothing."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def open(cls, folder: Path | None) -> _CollectionIndex:
        """The index in `folder` (created when new; None: in memory), after undoing an interrupted write."""
        if folder is None:
            index = tantivy.Index(SCHEMA)
        else:
            (folder / f"index-{LAYOUT}").mkdir(parents=True, exist_ok=True)
            index = tantivy.Index(SCHEMA, path=str(folder / f"index-{LAYOUT}"))
        try:
            writer = index.writer(WRITER_HEAP_BYTES, 1)
        except ValueError as e:
            raise DataDirBusy(
                f"the keyword index {folder} is in use by another process (each process that searches keeps "
                "its own; REPOCHAT_KEYWORD_INDEX_DIR gives this one a folder of its own)"
            ) from e
        synced = SyncedRefs(None if folder is None else folder / f"refs-{LAYOUT}")
        interrupted = synced.interrupted()
        for repository in interrupted:
            writer.delete_documents_by_term("repository", repository)
        if interrupted:
            writer.commit()
            synced.forget(interrupted)
        index.reload()
        return cls(index, writer, synced, synced.load())

    def sync_plan(self, repository: str, manifest: Manifest) -> tuple[Swap, frozenset[Version]] | None:
        """What a swap of `manifest`'s ref to it changes, or None when it is the manifest synced last."""
        key = (repository, manifest.ref)
        if self.manifests.get(key) is manifest:
            return None
        versions = versions_of(manifest)
        held = self.refs.setdefault(repository, RefVersions())
        if held.refs.get(manifest.ref) == versions:
            self.manifests[key] = manifest
            return None
        return held.swap_to(manifest.ref, versions), versions

    def write(self, manifest: Manifest, swap: Swap, versions: frozenset[Version], stored: list[KeywordChunk]) -> None:
        """Apply `swap` in one commit and record what `manifest`'s ref names (blocking: run in a thread).

        `stored`: chunks read from the store for `swap.added` (more, when the repository was read whole);
        those of the added versions that `manifest` names are written."""
        repository, chunker = manifest.repository, manifest.chunked_by
        self.synced.begin(repository)
        for version in swap.dropped:
            self.writer.delete_documents_by_term("version", version_key(repository, version))
        written: set[str] = set()
        for keyword_chunk in stored:
            chunk = keyword_chunk.chunk
            version = (chunker, chunk.path, chunk.blob_sha)
            if version in swap.added and chunk.id not in written and manifest.names(chunk):
                written.add(chunk.id)
                self.writer.add_document(_document(keyword_chunk, version_key(repository, version)))
        self.writer.commit()
        self.index.reload()
        self.refs[repository].record(manifest.ref, versions)
        self.synced.save(repository, manifest.ref, versions)

    def forgotten(self, indexed: Collection[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
        """The synced refs not among `indexed`: their manifests are gone."""
        wanted = set(indexed)
        return [
            (repository, ref)
            for repository, held in self.refs.items()
            for ref in held.refs
            if (repository, ref) not in wanted
        ]

    def forget(self, forgotten: list[tuple[str, str | None]]) -> None:
        """Drop the chunks only `forgotten` refs name, in one commit, and their records (blocking: run in a thread).

        A repository none of whose refs is left goes whole (by its term), with every chunk it ever had here."""
        refs: dict[str, list[str | None]] = {}
        for repository, ref in forgotten:
            refs.setdefault(repository, []).append(ref)
        gone = [repository for repository, dropped in refs.items() if set(self.refs[repository].refs) <= set(dropped)]
        for repository, dropped in refs.items():
            self.synced.begin(repository)
            if repository in gone:
                self.writer.delete_documents_by_term("repository", repository)
                continue
            held = self.refs[repository]
            for ref in dropped:
                for version in held.swap_to(ref, frozenset()).dropped:
                    self.writer.delete_documents_by_term("version", version_key(repository, version))
                held.forget(ref)
        self.writer.commit()
        self.index.reload()
        for repository, dropped in refs.items():
            for ref in dropped:
                self.manifests.pop((repository, ref), None)
            if repository in gone:
                del self.refs[repository]
                self.synced.forget([repository])
            else:
                self.synced.forget_refs(repository, dropped)

    def top(
        self,
        searcher: tantivy.Searcher,
        terms: Terms,
        k: int,
        hidden: list[str],
        only: list[str] | None,
        scored_by: QueryVector | None,
    ) -> list[SearchHit]:
        clauses = [(tantivy.Occur.Must, _terms_query(terms))]
        if only is not None:
            clauses.append((tantivy.Occur.Must, _filter(tantivy.Query.term_set_query(SCHEMA, "repository", only))))
        if hidden:
            clauses.append((tantivy.Occur.MustNot, tantivy.Query.term_set_query(SCHEMA, "version", hidden)))
        found = searcher.search(tantivy.Query.boolean_query(clauses), k, count=False).hits
        documents = [searcher.doc(address) for _, address in found]
        similarities = _similarities(documents, scored_by)
        return [
            SearchHit(CHUNK.loads(document["chunk"][0]), float(score), similarity, float(score))
            for (score, _), document, similarity in zip(found, documents, similarities, strict=True)
        ]

    def stored(self, searcher: tantivy.Searcher, ids: list[str], terms: Terms) -> dict[str, tuple[Chunk, float | None]]:
        """The chunks of `ids`, each with its BM25 for `terms` (the filter adds nothing to it) or None: one read."""
        clauses = [(tantivy.Occur.Must, _filter(_any_of_ids(ids)))]
        if terms:
            clauses.append((tantivy.Occur.Should, _terms_query(terms)))
        found = searcher.search(tantivy.Query.boolean_query(clauses), len(ids), count=False).hits
        scored = ((float(score), CHUNK.loads(searcher.doc(address)["chunk"][0])) for score, address in found)
        return {chunk.id: (chunk, score if score > 0 else None) for score, chunk in scored}

    def close(self) -> None:
        self.writer.wait_merging_threads()


class TantivyKeywordIndex(KeywordIndex):
    def __init__(self, vectors: ChunkReader, folder: Path | None = None) -> None:
        """`folder`: where each collection's index is kept (a subfolder each); None: in memory (tests)."""
        self._vectors = vectors
        self._folder = folder
        self._collections: dict[str, _CollectionIndex] = {}
        self._opening = asyncio.Lock()

    async def query(
        self, collection: str, terms: Terms, k: int, live: Mapping[str, Manifest], scored_by: QueryVector | None = None
    ) -> list[SearchHit]:
        state = await self._opened(collection)
        async with state.lock:
            await self._catch_up(collection, state, live)
            if not terms or not live:
                return []
            hidden = [
                version_key(repository, version)
                for repository, manifest in live.items()
                for version in state.refs[repository].hidden_from(manifest.ref)
            ]
            only = sorted(live) if state.refs.keys() - live.keys() else None
            searcher = state.index.searcher()  # a snapshot: what the manifests synced above name
        return await asyncio.to_thread(state.top, searcher, terms, k, hidden, only, scored_by)

    async def chunks(
        self, collection: str, ids: Collection[str], live: Mapping[str, Manifest], terms: Terms | None = None
    ) -> dict[str, tuple[Chunk, float | None]]:
        state = await self._opened(collection)
        async with state.lock:
            await self._catch_up(collection, state, live)
            searcher = state.index.searcher()
        return await asyncio.to_thread(state.stored, searcher, sorted(ids), terms or {}) if ids else {}

    async def _catch_up(self, collection: str, state: _CollectionIndex, live: Mapping[str, Manifest]) -> None:
        """Sync every repository of `live` whose manifest changed, one commit each, in order; the chunks of
        the next READ_AHEAD are read from the store while one is written."""
        plans = [(m, plan) for repository, m in live.items() if (plan := state.sync_plan(repository, m)) is not None]
        reads: deque[asyncio.Future[list[KeywordChunk]]] = deque()
        try:
            for position, (manifest, (swap, versions)) in enumerate(plans):
                for ahead, (ahead_swap, _) in plans[position + len(reads) : position + READ_AHEAD]:
                    reads.append(asyncio.ensure_future(self._read(collection, ahead, ahead_swap.added)))
                stored = await reads.popleft()
                await asyncio.to_thread(state.write, manifest, swap, versions, stored)
                state.manifests[(manifest.repository, manifest.ref)] = manifest
        finally:
            for read in reads:
                read.cancel()
            await asyncio.gather(*reads, return_exceptions=True)

    async def retain(self, collection: str, indexed: Collection[tuple[str, str | None]]) -> None:
        if collection not in self._collections and not self._kept(collection):
            return  # nothing held, and nothing to create
        state = await self._opened(collection)
        async with state.lock:
            forgotten = state.forgotten(indexed)
            if forgotten:
                await asyncio.to_thread(state.forget, forgotten)

    def close(self) -> None:
        """Let go of every writer (and so of each folder's lock)."""
        for state in self._collections.values():
            state.close()
        self._collections.clear()

    def _kept(self, collection: str) -> bool:
        """Whether this process's folder holds an index of `collection`, from an earlier run."""
        return self._folder is not None and (self._folder / collection).is_dir()

    async def _opened(self, collection: str) -> _CollectionIndex:
        async with self._opening:
            state = self._collections.get(collection)
            if state is None:
                folder = None if self._folder is None else self._folder / collection
                try:
                    state = await asyncio.to_thread(_CollectionIndex.open, folder)
                except DataDirBusy as e:
                    log.warning("%s; this process keeps its own in memory instead, caught up from the store", e)
                    state = await asyncio.to_thread(_CollectionIndex.open, None)
                self._collections[collection] = state
            return state

    async def _read(self, collection: str, manifest: Manifest, versions: frozenset[Version]) -> list[KeywordChunk]:
        """The stored chunks of `versions` (all the repository's, when most of its versions are wanted)."""
        if not versions:
            return []
        whole = len(versions) > WHOLE_READ_SHARE * len(manifest.files)
        shas = None if whole else {blob_sha for _, _, blob_sha in versions}
        return await self._vectors.keyword_chunks(collection, manifest.repository, shas)


def _document(stored: KeywordChunk, version: str) -> tantivy.Document:
    chunk, vector = stored.chunk, stored.vector
    document = tantivy.Document(
        id=chunk.id,
        repository=chunk.repository,
        version=version,
        terms=stored.terms,
        names=" ".join(name_terms(chunk.path, chunk.headings)),
        chunk=CHUNK.dumps(chunk).encode(),
    )
    if vector is not None:
        document.add_bytes("vector", vector.values)
        document.add_text("embedder", vector.embedder)
    return document


def _similarities(documents: list[tantivy.Document], scored_by: QueryVector | None) -> list[float | None]:
    """Each document's cosine similarity to `scored_by`, None where it holds no vector of that embedder (or one
    of another length)."""
    similarities: list[float | None] = [None] * len(documents)
    if scored_by is None:
        return similarities
    width = FLOAT32.itemsize * len(scored_by.values)
    held: dict[int, bytes] = {}
    for position, document in enumerate(documents):
        vector = document.get_first("vector")
        if document.get_first("embedder") == scored_by.embedder and vector is not None and len(vector) == width:
            held[position] = vector
    if held:
        stored = np.frombuffer(b"".join(held.values()), dtype=FLOAT32).reshape(len(held), -1)
        for position, similarity in zip(held, cosine_similarities(stored, scored_by.values), strict=True):
            similarities[position] = similarity
    return similarities


def _terms_query(terms: Terms) -> tantivy.Query:
    """BM25 summed over `terms`, each weighted (term -> weight), in the text and (times NAMES_WEIGHT) the names."""
    weighted = [
        tantivy.Query.boost_query(tantivy.Query.term_query(SCHEMA, field, term, "freq"), weight * boost)
        for term, weight in terms.items()
        for field, boost in (("terms", 1.0), ("names", NAMES_WEIGHT))
    ]
    return tantivy.Query.boolean_query([(tantivy.Occur.Should, query) for query in weighted])


def _any_of_ids(ids: list[str]) -> tantivy.Query:
    """The chunks of `ids` (at most a page of candidates): one term query each, which for so few ids costs a
    quarter of a term-set query's search."""
    return tantivy.Query.boolean_query([(tantivy.Occur.Should, tantivy.Query.term_query(SCHEMA, "id", i)) for i in ids])


def _filter(query: tantivy.Query) -> tantivy.Query:
    """`query` as a filter: it must match and adds nothing to the score."""
    return tantivy.Query.const_score_query(query, 0.0)
