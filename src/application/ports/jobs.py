"""Ports: running index jobs and their batches, and reporting on them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from application.ports.sources import SourceVersion
from domain.documents import FileEntry
from domain.jobs import IndexRequest, Job, Progress


class ProgressReporter(Protocol):
    async def report(self, stage: str, progress: Progress) -> None: ...


class JobQueue(Protocol):
    """Runs index jobs somewhere (this process, Hatchet workers) and reports on them."""

    async def start(self) -> None:
        """Begin running jobs in this process, where the queue runs them here at all."""
        ...

    async def stop(self) -> None: ...

    async def submit(self, request: IndexRequest) -> Job:
        """Queue a job, or return the unfinished job of the same (collection, repository, ref)."""
        ...

    async def get(self, job_id: str) -> Job: ...

    async def recent(self, limit: int = 50) -> list[Job]: ...

    async def cancel(self, job_id: str) -> Job: ...

    async def ping(self) -> None: ...


@dataclass(frozen=True)
class IndexBatch:
    """Batch `number` of `of` of one index job: its files by reference (never contents), and the version to read."""

    request: IndexRequest
    version: SourceVersion
    files: tuple[FileEntry, ...]
    number: int
    of: int


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

    def unaccounted(self, files: Sequence[FileEntry]) -> list[str]:
        """The paths of `files` this outcome neither chunked nor found binary."""
        accounted = set(self.chunk_counts) | set(self.binary_files)
        return [entry.path for entry in files if entry.path not in accounted]


BatchDone = Callable[[IndexBatch, BatchOutcome], Awaitable[None]]
"""Told of each batch as it finishes, with what it wrote."""


class BatchRunner(Protocol):
    """Runs the batches of one index job: one after another in this process, or as tasks on any worker."""

    async def run(self, batches: Sequence[IndexBatch], done: BatchDone) -> None:
        """Write every batch, calling `done` as each finishes (in any order).

        Returns once every batch has finished; raises when one fails or the job is cancelled,
        and then the job swaps nothing in.
        """
        ...
