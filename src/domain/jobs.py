"""Index jobs as users see them: state, stage, progress, result."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from domain.documents import SkipCounts
from domain.sources import SourceSpec


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class IndexRequest:
    source: SourceSpec
    collection: str = "default"


@dataclass(frozen=True)
class Progress:
    files_total: int = 0
    files_done: int = 0
    chunks_written: int = 0


@dataclass(frozen=True)
class IndexResult:
    files_indexed: int = 0
    files_unchanged: int = 0
    files_deleted: int = 0
    files_skipped: int = 0
    chunks_written: int = 0
    chunks_deleted: int = 0
    embedding_calls: int = 0
    commit: str = ""
    skipped: SkipCounts = field(default_factory=SkipCounts)
    chunks_reused: int = 0
    """Of `chunks_written`, those not embedded for themselves: their vector was copied from a chunk with
    the same embedded text (stored, of any repository or ref, or written beside them). Results recorded
    before this was counted load with 0."""


@dataclass(frozen=True)
class Job:
    id: str
    repository: str
    request: IndexRequest
    state: JobState = JobState.QUEUED
    stage: str = "queued"
    progress: Progress = field(default_factory=Progress)
    result: IndexResult | None = None
    error: str | None = None
    created_at: str = ""
    updated_at: str = ""

    def with_progress(self, stage: str, progress: Progress) -> Job:
        return replace(self, state=JobState.RUNNING, stage=stage, progress=progress)
