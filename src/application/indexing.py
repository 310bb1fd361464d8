"""Index a repository incrementally: plan, write new chunks, then swap the manifest.

Each ref of a repository has its own manifest (`domain.refs`). After the swap, every chunk
of the repository that no manifest of it names, at any ref, is deleted: those of replaced
file versions, and those an earlier cancelled or failed job wrote and never made live. The
queues run one job per repository at a time, so no other job's unswapped chunks are swept.

The steps are separate methods so a distributed queue can run `write` batches on many
workers; `execute` runs them in order for the in-process queue and the CLI.

A manifest records the chunker version that cut its chunks. When that is not the current one,
`plan` lists the source again and counts every file as changed, so the job re-reads, re-chunks and
re-embeds all of them once; the new manifest records the current version, and the sweep deletes
the old chunks by id (they share their file versions with the new ones).

A ref indexed for the first time starts from another ref of the repository (`IndexPlan.baseline`):
it reads and chunks only the files whose versions differ, and keeps the other ref's chunks of the rest.

A chunk is embedded only when no stored chunk has its text: `write` skips chunks whose id is stored
(a retried batch), copies the vector of a stored chunk with the same content key (`domain.content_keys`:
the same embedded text, of any repository, fork, ref or file version in the collection), and embeds
each remaining distinct text once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from application.ports.embeddings import Embedder
from application.ports.jobs import ProgressReporter
from application.ports.sources import CodeOutline, DocumentSource, SourceSnapshot, StageNote, no_note
from application.ports.stores import ManifestStore, VectorIndex
from domain.chunking import CodeSymbol, chunk_file, embedding_text
from domain.collections import validate_collection
from domain.content_keys import content_key
from domain.documents import CHUNKER_VERSION, Chunk, FileEntry, Manifest, ManifestDiff, SourceFile, diff_manifest
from domain.errors import InvalidInput
from domain.jobs import IndexRequest, IndexResult, Progress
from domain.refs import default_manifest, names_anywhere
from domain.sources import SourceSpec


class SilentProgress:
    async def report(self, stage: str, progress: Progress) -> None:
        return None


class NoCodeOutline:
    """Finds no symbols: code is packed from blank-line blocks like plain text."""

    def symbols(self, path: str, text: str) -> tuple[CodeSymbol, ...]:
        return ()


@dataclass(frozen=True)
class IndexPlan:
    request: IndexRequest
    snapshot: SourceSnapshot
    previous: Manifest | None
    diff: ManifestDiff | None
    """None when the source reported no change at all."""
    baseline: Manifest | None = None
    """What `diff` is against: `previous`, else (a ref indexed for the first time) the manifest of another
    ref of the repository listed with the same filters and chunker, whose chunks it shares."""


@dataclass(frozen=True)
class BatchOutcome:
    """What writing one batch of files produced; outcomes add up across batches."""

    chunk_counts: dict[str, int] = field(default_factory=dict)
    binary_files: tuple[str, ...] = ()
    chunks_written: int = 0
    embedding_calls: int = 0
    chunks_reused: int = 0
    """Of `chunks_written`, those whose vector was copied instead of embedded for them."""

    def __add__(self, other: BatchOutcome) -> BatchOutcome:
        return BatchOutcome(
            {**self.chunk_counts, **other.chunk_counts},
            self.binary_files + other.binary_files,
            self.chunks_written + other.chunks_written,
            self.embedding_calls + other.embedding_calls,
            self.chunks_reused + other.chunks_reused,
        )


def pick_source(sources: Sequence[DocumentSource], spec: SourceSpec) -> DocumentSource:
    for source in sources:
        if source.handles(spec):
            return source
    raise InvalidInput(f"no configured source can read {spec.kind.value} sources")


class IndexRepository:
    def __init__(
        self,
        sources: Sequence[DocumentSource],
        embedder: Embedder,
        index: VectorIndex,
        manifests: ManifestStore,
        files_per_batch: int = 32,
        texts_per_embedding_call: int = 64,
        *,
        outline: CodeOutline | None = None,
    ) -> None:
        self._sources = sources
        self._embedder = embedder
        self._index = index
        self._manifests = manifests
        self._files_per_batch = files_per_batch
        self._texts_per_call = texts_per_embedding_call
        self._outline = outline or NoCodeOutline()

    async def execute(self, request: IndexRequest, progress: ProgressReporter | None = None) -> IndexResult:
        reporter = progress or SilentProgress()
        current = Progress()

        async def note(stage: str) -> None:
            await reporter.report(stage, current)

        await note("listing files")
        plan = await self.plan(request, note)
        if plan.diff is None:
            return self.unchanged_result(plan)
        todo = plan.diff.to_index
        outcome = BatchOutcome()
        total = len(todo)
        current = Progress(files_total=total)
        await note("embedding")
        for start in range(0, total, self._files_per_batch):
            batch = todo[start : start + self._files_per_batch]
            outcome = outcome + await self.write(plan.request, plan.snapshot, batch, note)
            current = Progress(total, min(start + len(batch), total), outcome.chunks_written)
            await note("embedding")
        await reporter.report("finalizing", Progress(total, total, outcome.chunks_written))
        return await self.finalize(plan, outcome)

    async def plan(self, request: IndexRequest, note: StageNote = no_note) -> IndexPlan:
        """List the source and diff it against the ref's live manifest.

        A ref indexed for the first time is diffed against another ref of the repository instead
        (`_sibling`): the files the two share are neither fetched nor chunked again, and a ref at the
        same commit as that one costs no more than a no-change sync.
        """
        validate_collection(request.collection)
        spec = request.source
        previous = await self._manifests.get(request.collection, spec.repository_id, spec.ref)
        baseline = previous or await self._sibling(request)
        known = baseline
        if baseline and (
            (baseline.include, baseline.exclude) != (spec.include, spec.exclude) or baseline.outdated_chunker
        ):
            known = replace(baseline, commit="", etag=None)  # new filters or chunker: list again at the same commit
        snapshot = await pick_source(self._sources, spec).snapshot(spec, known, note)
        if snapshot.files is None:
            if previous is None and baseline is not None:  # another ref's commit: its files, as they are
                return IndexPlan(request, snapshot, previous, _all_unchanged(baseline), baseline)
            return IndexPlan(request, snapshot, previous, None, baseline)
        return IndexPlan(request, snapshot, previous, diff_manifest(baseline, snapshot.files), baseline)

    async def _sibling(self, request: IndexRequest) -> Manifest | None:
        """The manifest of another ref of the repository a new ref can start from (the one searched by default)."""
        spec = request.source
        siblings = [
            manifest
            for _, manifest in await self._manifests.entries(request.collection)
            if manifest.repository == spec.repository_id
            and manifest.ref != spec.ref
            and (manifest.include, manifest.exclude) == (spec.include, spec.exclude)
            and not manifest.outdated_chunker
        ]
        return default_manifest(siblings)

    async def write(
        self,
        request: IndexRequest,
        snapshot: SourceSnapshot,
        entries: Sequence[FileEntry],
        note: StageNote = no_note,
    ) -> BatchOutcome:
        """Read, chunk, embed and store `entries`. Chunks already stored, or whose text is, are not embedded again."""
        spec = request.source
        source = pick_source(self._sources, spec)
        chunks: list[Chunk] = []
        counts: dict[str, int] = {}
        async for file in source.read(spec, snapshot, entries, note):
            # Parsing and chunking a large file take tens of milliseconds: off the event loop, so the
            # requests a server has in flight are not held up by an index job.
            file_chunks = await asyncio.to_thread(self._chunk, file, snapshot)
            counts[file.path] = len(file_chunks)
            chunks.extend(file_chunks)
        binary = tuple(entry.path for entry in entries if entry.path not in counts)
        existing = await self._index.existing_ids(request.collection, [c.id for c in chunks])
        fresh = [c for c in chunks if c.id not in existing]
        reused, calls = await self._store(request.collection, fresh)
        return BatchOutcome(counts, binary, len(fresh), calls, reused)

    async def _store(self, collection: str, chunks: Sequence[Chunk]) -> tuple[int, int]:
        """Upsert `chunks` with vectors copied by content key where one is stored, else embedded once per key.

        Returns (chunks whose vector was not embedded for them, embedding calls).
        """
        if not chunks:
            return 0, 0
        keys = {c.id: content_key(c) for c in chunks}
        stored = await self._index.vectors_by_content(collection, self._embedder.name, set(keys.values()))
        copied = [c for c in chunks if keys[c.id] in stored]
        if copied:
            await self._index.upsert(collection, self._embedder.name, copied, [stored[keys[c.id]] for c in copied])
        alike: dict[str, list[Chunk]] = {}
        for chunk in chunks:
            if keys[chunk.id] not in stored:
                alike.setdefault(keys[chunk.id], []).append(chunk)
        # Texts of similar length share an embedding call, so a model pads each call less.
        pending = sorted(((embedding_text(group[0]), group) for group in alike.values()), key=lambda p: len(p[0]))
        calls = 0
        for start in range(0, len(pending), self._texts_per_call):
            batch = pending[start : start + self._texts_per_call]
            vectors = await self._embedder.embed_documents([text for text, _ in batch])
            calls += 1
            groups = [group for _, group in batch]
            await self._index.upsert(
                collection,
                self._embedder.name,
                [c for group in groups for c in group],
                [vector for group, vector in zip(groups, vectors, strict=True) for _ in group],
            )
        return len(chunks) - len(pending), calls

    def _chunk(self, file: SourceFile, snapshot: SourceSnapshot) -> list[Chunk]:
        symbols = self._outline.symbols(file.path, file.text)
        return chunk_file(file, snapshot.repository, snapshot.commit, symbols)

    async def finalize(self, plan: IndexPlan, outcome: BatchOutcome) -> IndexResult:
        """Swap in the new manifest, then delete the repository's chunks it does not name."""
        assert plan.diff is not None
        old_counts = dict(plan.baseline.chunk_counts) if plan.baseline else {}
        files = {entry.path: entry.blob_sha for entry in plan.diff.unchanged}
        counts = {entry.path: old_counts.get(entry.path, 0) for entry in plan.diff.unchanged}
        for entry in plan.diff.to_index:
            # Binary files are recorded with no chunks, so an unchanged one is not fetched again.
            files[entry.path] = entry.blob_sha
            counts[entry.path] = outcome.chunk_counts.get(entry.path, 0)
        snapshot = plan.snapshot
        manifest = Manifest(
            repository=snapshot.repository,
            source=plan.request.source.description,
            commit=snapshot.commit,
            files=files,
            chunk_counts=counts,
            indexed_at=datetime.now(UTC).isoformat(timespec="seconds"),
            ref=plan.request.source.ref,
            etag=snapshot.etag,
            web_url=snapshot.web_url,
            include=plan.request.source.include,
            exclude=plan.request.source.exclude,
            chunker=CHUNKER_VERSION,
        )
        await self._manifests.save(plan.request.collection, manifest)
        stale = await unnamed_chunk_ids(self._index, self._manifests, plan.request.collection, manifest.repository)
        await self._index.delete(plan.request.collection, stale)
        skipped = snapshot.skipped
        return IndexResult(
            files_indexed=len(outcome.chunk_counts),
            files_unchanged=len(plan.diff.unchanged),
            files_deleted=len(plan.diff.deleted),
            files_skipped=skipped.total + len(outcome.binary_files),
            chunks_written=outcome.chunks_written,
            chunks_deleted=len(stale),
            embedding_calls=outcome.embedding_calls,
            commit=snapshot.commit,
            skipped=skipped,
            chunks_reused=outcome.chunks_reused,
        )

    def unchanged_result(self, plan: IndexPlan) -> IndexResult:
        """What a job whose source reported no change (`plan.diff` None) did: nothing."""
        files = len(plan.previous.files) if plan.previous else 0
        return IndexResult(files_unchanged=files, commit=plan.snapshot.commit, skipped=plan.snapshot.skipped)


def _all_unchanged(manifest: Manifest) -> ManifestDiff:
    """Every file of `manifest` unchanged (sizes are not recorded, and not needed to keep a file)."""
    return ManifestDiff((), (), tuple(FileEntry(path, sha, 0) for path, sha in manifest.files.items()), ())


async def unnamed_chunk_ids(
    index: VectorIndex, manifests: ManifestStore, collection: str, repository: str
) -> list[str]:
    """Ids of the stored chunks of `repository` that none of its manifests in `collection` names, at any ref.

    Refs share the chunks of the file versions they share (chunk ids do not name the ref), so a chunk
    goes only once no ref names it. Ids, not file versions, are compared: see the module docstring.
    """
    siblings = [m for _, m in await manifests.entries(collection) if m.repository == repository]
    named = names_anywhere(siblings)
    stored = await index.stored_chunks(collection, repository)
    return [chunk.id for chunk in stored if chunk.id not in named]
