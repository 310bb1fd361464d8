"""Index a repository incrementally: plan, write new chunks in batches, then swap the manifest.

Each ref of a repository has its own manifest (`domain.refs`). After the swap, every chunk
of the repository that no manifest of it names, at any ref, is deleted: those of replaced
file versions, and those an earlier cancelled or failed job wrote and never made live. The
queues run one job per repository at a time, so no other job's unswapped chunks are swept.

A job that stops before its swap keeps what it wrote: it may be resumed (a restart of the
in-process queue) or retried (a Hatchet task), and its batches then skip the chunks already
stored. Only the queue knows when a job is over for good (failed for the last time, or cancelled
by a user), and calls `discard_unswapped` then, while no other job of the repository runs.

`execute` is the one indexing loop. Its batches run through a `BatchRunner`: one after another
in this process unless the caller gives another (the Hatchet fan-out, whose batch tasks call
`write` on any worker). Every batch is written by `write`, wherever it runs.

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
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from application.ports.embeddings import Embedder
from application.ports.jobs import BatchDone, BatchOutcome, BatchRunner, IndexBatch, ProgressReporter
from application.ports.sources import CodeOutline, DocumentSource, SourceVersion, StageNote, no_note
from application.ports.stores import ManifestStore, VectorIndex
from domain.chunking import CodeSymbol, chunk_file, embedding_text
from domain.collections import validate_collection
from domain.content_keys import content_key
from domain.documents import (
    CHUNKER_VERSION,
    Chunk,
    FileEntry,
    Manifest,
    ManifestDiff,
    SkipCounts,
    SourceFile,
    diff_manifest,
)
from domain.errors import InvalidInput, RepochatError
from domain.jobs import IndexRequest, IndexResult, Progress
from domain.refs import default_manifest, names_anywhere
from domain.sources import SourceSpec

log = logging.getLogger(__name__)


class SilentProgress:
    async def report(self, _stage: str, _progress: Progress) -> None:
        return None


class NoCodeOutline:
    """Finds no symbols: code is packed from blank-line blocks like plain text."""

    def symbols(self, _path: str, _text: str) -> tuple[CodeSymbol, ...]:
        return ()


@dataclass(frozen=True)
class SourceUnchanged:
    """What `plan` found when the source reported no change since the ref's live manifest: nothing to do."""

    commit: str
    files: int
    skipped: SkipCounts

    def result(self) -> IndexResult:
        return IndexResult(files_unchanged=self.files, commit=self.commit, skipped=self.skipped)


@dataclass(frozen=True)
class IndexPlan:
    """A job's work: the files to write (`diff.to_index`) at `version`, and those it keeps or drops."""

    request: IndexRequest
    version: SourceVersion
    skipped: SkipCounts
    diff: ManifestDiff
    baseline: Manifest | None = None
    """What `diff` is against: the ref's live manifest, else (a ref indexed for the first time) the manifest
    of another ref of the repository listed with the same filters and chunker, whose chunks it shares."""

    def batches(self, files_per_batch: int) -> list[IndexBatch]:
        todo = self.diff.to_index
        size = max(1, files_per_batch)
        slices = [todo[start : start + size] for start in range(0, len(todo), size)]
        return [
            IndexBatch(self.request, self.version, files, number, len(slices))
            for number, files in enumerate(slices, start=1)
        ]


class SequentialBatches(BatchRunner):
    """Writes the batches one after another in this process."""

    def __init__(self, write: Callable[[IndexBatch], Awaitable[BatchOutcome]]) -> None:
        self._write = write

    async def run(self, batches: Sequence[IndexBatch], done: BatchDone) -> None:
        for batch in batches:
            await done(batch, await self._write(batch))


class _Tally:
    """The outcomes of a job's finished batches, added up, and the progress they make."""

    def __init__(self, reporter: ProgressReporter) -> None:
        self._reporter = reporter
        self.outcome = BatchOutcome()
        self.progress = Progress()

    async def note(self, stage: str) -> None:
        """A `StageNote`: the stage, with the counts so far."""
        await self._reporter.report(stage, self.progress)

    async def start(self, files_total: int) -> None:
        self.progress = Progress(files_total=files_total)
        await self.note("embedding")

    async def done(self, batch: IndexBatch, outcome: BatchOutcome) -> None:
        self.outcome = self.outcome + outcome
        total, done = self.progress.files_total, self.progress.files_done + len(batch.files)
        self.progress = Progress(total, min(done, total), self.outcome.chunks_written)
        await self.note("embedding")


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
        batches: BatchRunner | None = None,
    ) -> None:
        """`batches` runs the writes of the batches; None: `SequentialBatches` in this process."""
        self._sources = sources
        self._embedder = embedder
        self._index = index
        self._manifests = manifests
        self._files_per_batch = files_per_batch
        self._texts_per_call = texts_per_embedding_call
        self._outline = outline or NoCodeOutline()
        self._batches = batches

    async def execute(self, request: IndexRequest, progress: ProgressReporter | None = None) -> IndexResult:
        tally = _Tally(progress or SilentProgress())
        await tally.note("listing files")
        plan = await self.plan(request, tally.note)
        if isinstance(plan, SourceUnchanged):
            return plan.result()

        async def write_here(batch: IndexBatch) -> BatchOutcome:
            return await self.write(batch, tally.note)

        runner = self._batches or SequentialBatches(write_here)
        try:
            await tally.start(len(plan.diff.to_index))
            await runner.run(plan.batches(self._files_per_batch), tally.done)
            await tally.note("finalizing")
            return await self.finalize(plan, tally.outcome)
        finally:
            await pick_source(self._sources, request.source).release(request.source, plan.version)

    async def discard_unswapped(self, request: IndexRequest) -> int:
        """Delete the chunks of the request's repository that no manifest names: what a job that is over
        without its swap (failed for good, or cancelled by a user) wrote, so it does not hold disk until
        the next job of the repository succeeds. Returns how many were deleted.

        Call it only while no other job of the repository runs (where that job would run: in its slot),
        or it deletes that job's chunks before its swap. Best effort: the store may be what failed the
        job, and the job's own error matters more, so a failure here is logged, not raised.
        """
        collection, repository = request.collection, request.source.repository_id
        try:
            unnamed = await unnamed_chunk_ids(self._index, self._manifests, collection, repository)
            await self._index.delete(collection, unnamed)
        except Exception as e:
            log.warning("could not delete the chunks a job of %s left: %s: %s", repository, type(e).__name__, e)
            return 0
        return len(unnamed)

    async def plan(self, request: IndexRequest, note: StageNote = no_note) -> IndexPlan | SourceUnchanged:
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
        if snapshot.files is not None:
            diff = diff_manifest(baseline, snapshot.files)
        elif previous is None and baseline is not None:  # another ref's commit: its files, as they are
            diff = _all_unchanged(baseline)
        else:
            files = len(previous.files) if previous else 0
            return SourceUnchanged(snapshot.version.commit, files, snapshot.skipped)
        return IndexPlan(request, snapshot.version, snapshot.skipped, diff, baseline)

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

    async def write(self, batch: IndexBatch, note: StageNote = no_note) -> BatchOutcome:
        """Read, chunk, embed and store the batch's files, on any worker.

        Chunks already stored, or whose text is, are not embedded again.
        """
        spec = batch.request.source
        source = pick_source(self._sources, spec)
        chunks: list[Chunk] = []
        counts: dict[str, int] = {}
        async for file in source.read(spec, batch.version, batch.files, note):
            # Parsing and chunking a large file take tens of milliseconds: off the event loop, so the
            # requests a server has in flight are not held up by an index job.
            file_chunks = await asyncio.to_thread(self._chunk, file, batch.version)
            counts[file.path] = len(file_chunks)
            chunks.extend(file_chunks)
        binary = tuple(entry.path for entry in batch.files if entry.path not in counts)
        collection = batch.request.collection
        existing = await self._index.existing_ids(collection, [c.id for c in chunks])
        fresh = [c for c in chunks if c.id not in existing]
        reused, calls = await self._store(collection, fresh)
        return BatchOutcome(counts, binary, len(fresh), calls, reused)

    async def _store(self, collection: str, chunks: Sequence[Chunk]) -> tuple[int, int]:
        """Upsert `chunks` with vectors copied by content key where one is stored, else embedded once per key.

        Returns (chunks whose vector was not embedded for them, embedding calls).
        """
        if not chunks:
            return 0, 0
        keys = await asyncio.to_thread(_content_keys, chunks)  # a hash of every text: off the event loop too
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

    def _chunk(self, file: SourceFile, version: SourceVersion) -> list[Chunk]:
        symbols = self._outline.symbols(file.path, file.text)
        return chunk_file(file, version.repository, version.commit, symbols)

    async def finalize(self, plan: IndexPlan, outcome: BatchOutcome) -> IndexResult:
        """Swap in the new manifest, then delete the repository's chunks it does not name.

        Only when `outcome` accounts for every file to index: a job never swaps in half a version.
        """
        missing = outcome.unaccounted(plan.diff.to_index)
        if missing:
            raise RepochatError(f"{len(missing)} files were not indexed (e.g. {missing[0]}); nothing was changed")
        old_counts = dict(plan.baseline.chunk_counts) if plan.baseline else {}
        files = {entry.path: entry.blob_sha for entry in plan.diff.unchanged}
        counts = {entry.path: old_counts.get(entry.path, 0) for entry in plan.diff.unchanged}
        for entry in plan.diff.to_index:
            # Binary files are recorded with no chunks, so an unchanged one is not fetched again.
            files[entry.path] = entry.blob_sha
            counts[entry.path] = outcome.chunk_counts.get(entry.path, 0)
        version = plan.version
        manifest = Manifest(
            repository=version.repository,
            source=plan.request.source.description,
            commit=version.commit,
            files=files,
            chunk_counts=counts,
            indexed_at=datetime.now(UTC).isoformat(timespec="seconds"),
            ref=plan.request.source.ref,
            etag=version.etag,
            web_url=version.web_url,
            include=plan.request.source.include,
            exclude=plan.request.source.exclude,
            chunker=CHUNKER_VERSION,
        )
        await self._manifests.save(plan.request.collection, manifest)
        stale = await unnamed_chunk_ids(self._index, self._manifests, plan.request.collection, manifest.repository)
        await self._index.delete(plan.request.collection, stale)
        skipped = plan.skipped
        return IndexResult(
            files_indexed=len(outcome.chunk_counts),
            files_unchanged=len(plan.diff.unchanged),
            files_deleted=len(plan.diff.deleted),
            files_skipped=skipped.total + len(outcome.binary_files),
            # Every chunk of the files indexed is stored now; those a retried batch or an interrupted
            # earlier run of this job stored were skipped by `write`, and count as this job's too.
            chunks_written=sum(outcome.chunk_counts.values()),
            chunks_deleted=len(stale),
            embedding_calls=outcome.embedding_calls,
            commit=version.commit,
            skipped=skipped,
            chunks_reused=outcome.chunks_reused,
        )


def _all_unchanged(manifest: Manifest) -> ManifestDiff:
    """Every file of `manifest` unchanged (sizes are not recorded, and not needed to keep a file)."""
    return ManifestDiff((), (), tuple(FileEntry(path, sha, 0) for path, sha in manifest.files.items()), ())


def _content_keys(chunks: Sequence[Chunk]) -> dict[str, str]:
    """Chunk id -> content key."""
    return {c.id: content_key(c) for c in chunks}


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
