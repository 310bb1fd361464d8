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

from typing import Any

from pydantic import BaseModel, Field

from application.ports.sources import SourceSnapshot
from domain.documents import FileEntry, SkipCounts
from domain.jobs import IndexRequest

INDEX_TASK = "repochat-index"
BATCH_TASK = "repochat-index-batch"
SYNC_TASK = "repochat-sync"
"""The cron-triggered tick of the sync schedule (`sync_workflow`); its input is empty."""
JOB_KEY = "repochat_job"
"""Additional-metadata key whose value is the run's `job_key`: `submit` looks the unfinished run
of a job up by it. One key only: the runs API combines several metadata filters with OR. Runs of
builds before refs have `repochat_job_key` (collection and repository) instead: they are listed
and read like any run, but no submission joins them."""

CONCURRENCY_EXPRESSION = "has(input.concurrency_key) ? input.concurrency_key : input.job_key"
"""What the engine groups `repochat-index` runs by (one run per group, the others wait): the
input's `concurrency_key`, or the `job_key` of an input a build before refs wrote (which was its
concurrency key), so such a build's API can still submit to workers of this one."""


def _concurrency_key_of(fields: dict[str, Any]) -> str:
    """The concurrency key of an input written without one (by a build before refs), from its validated request."""
    return concurrency_key(fields["request"])


class IndexJobInput(BaseModel):
    """Input of `repochat-index`: the request, its `job_key`, and the key its concurrency is grouped by.

    Builds before refs wrote only `request` and `job_key`, and their `job_key` was the
    `concurrency_key` of today: a run they queued reads with the concurrency key of its request.
    They read this input too (they ignore the field they do not know).
    """

    request: IndexRequest
    job_key: str
    concurrency_key: str = Field(default_factory=_concurrency_key_of)


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
    """`collection:ref:repository`, the ref empty for the default branch: what one job indexes.

    A submission joins the unfinished run with its job key. Unambiguous: collection names and
    refs contain no ':' (`normalize_ref` refuses it), so the first two ':' end them, and the
    rest is the repository id, which may contain ':' (`local:/path`).
    """
    return f"{request.collection}:{request.source.ref or ''}:{request.source.repository_id}"


def concurrency_key(request: IndexRequest) -> str:
    """`collection:repository`: the jobs of one repository in one collection run one at a time, whatever their ref.

    One ref's finalize deletes the chunks no live manifest names, which may be chunks another
    ref's running job has written but not made live yet. Collection names contain no ':', so the
    first ':' ends the collection.
    """
    return f"{request.collection}:{request.source.repository_id}"


def job_input(request: IndexRequest) -> IndexJobInput:
    return IndexJobInput(request=request, job_key=job_key(request), concurrency_key=concurrency_key(request))


def job_metadata(request: IndexRequest) -> dict[str, str]:
    """What the engine's listings show of a job, and `JOB_KEY` to look it up by."""
    metadata = {
        JOB_KEY: job_key(request),
        "repository": request.source.repository_id,
        "collection": request.collection,
    }
    if request.source.ref is not None:
        metadata["ref"] = request.source.ref
    return metadata
