"""What the submitting side (`HatchetJobQueue`) and the tasks (`workflows`) agree on.

Task inputs are pydantic models whose fields are the domain dataclasses themselves, so the
SDK's own serialisation (a pydantic `TypeAdapter` over the input model) writes the same JSON as
`adapters.domain_json`. Task outputs are the domain dataclasses `BatchOutcome` (a batch) and
`IndexResult` (a job), returned as they are: the SDK serialises a dataclass return value through
a `TypeAdapter` of the task's return annotation, which again is the `domain_json` shape.

These shapes are read back from runs that an earlier build submitted: change them only in ways
that still validate the old JSON.
"""

from __future__ import annotations

from pydantic import BaseModel

from application.ports import SourceSnapshot
from domain.documents import FileEntry, SkipCounts
from domain.jobs import IndexRequest

INDEX_TASK = "repochat-index"
BATCH_TASK = "repochat-index-batch"
SYNC_TASK = "repochat-sync"
"""The cron-triggered tick of the sync schedule (`sync_workflow`); its input is empty."""
JOB_KEY = "repochat_job_key"
"""Additional-metadata key naming a job's collection and repository. One key only: the runs
API combines several metadata filters with OR."""


class IndexJobInput(BaseModel):
    """Input of `repochat-index`: the request and the key its concurrency is grouped by."""

    request: IndexRequest
    job_key: str


class SnapshotRef(BaseModel):
    """What a batch needs of the parent's snapshot; the file listing stays with the parent."""

    repository: str
    commit: str
    web_url: str
    etag: str | None = None
    skipped: SkipCounts = SkipCounts()

    @classmethod
    def of(cls, snapshot: SourceSnapshot) -> SnapshotRef:
        return cls(
            repository=snapshot.repository,
            commit=snapshot.commit,
            web_url=snapshot.web_url,
            etag=snapshot.etag,
            skipped=snapshot.skipped,
        )

    def without_listing(self) -> SourceSnapshot:
        """The snapshot as a batch sees it: no listing (`files=None`), the batch's files come separately."""
        return SourceSnapshot(self.repository, self.commit, self.web_url, None, self.skipped, self.etag)


class BatchInput(BaseModel):
    """Input of `repochat-index-batch`: batch `number` of `of`, its files as references (never contents)."""

    request: IndexRequest
    snapshot: SnapshotRef
    files: list[FileEntry]
    number: int
    of: int


def job_key(request: IndexRequest) -> str:
    """`collection:repository`; collection names cannot contain ':' so the split is unambiguous."""
    return f"{request.collection}:{request.source.repository_id}"


def job_input(request: IndexRequest) -> IndexJobInput:
    return IndexJobInput(request=request, job_key=job_key(request))


def job_metadata(request: IndexRequest) -> dict[str, str]:
    return {
        JOB_KEY: job_key(request),
        "repository": request.source.repository_id,
        "collection": request.collection,
    }
