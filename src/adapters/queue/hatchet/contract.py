"""What the submitting side (`HatchetJobQueue`) and the tasks (`workflows`) agree on.

Task inputs are pydantic models whose fields are the domain dataclasses themselves, so the
SDK's own serialisation (a pydantic `TypeAdapter` over the input model) writes the same JSON as
`adapters.domain_json`. Task outputs are the dataclasses `BatchOutcome` (a batch) and
`IndexResult` (a job), returned as they are: the SDK serialises a dataclass return value through
a `TypeAdapter` of the task's return annotation, which again is the `domain_json` shape.

Only this build's shapes are read: a run queued by an earlier build is not a supported upgrade
path (finish or cancel the queued jobs before upgrading), and `runs` lists it as no job.
"""

from __future__ import annotations

from pydantic import BaseModel

from application.ports.jobs import IndexBatch
from domain.jobs import IndexRequest

INDEX_TASK = "repochat-index"
BATCH_TASK = "repochat-index-batch"
SYNC_TASK = "repochat-sync"
"""The cron-triggered tick of the sync schedule (`sync_workflow`); its input is empty."""
JOB_KEY = "repochat_job"
"""Additional-metadata key whose value is the run's `job_key`: `submit` looks the unfinished run
of a job up by it. One key only: the runs API combines several metadata filters with OR."""

DISCARDS = "repochat_discards"
"""Additional-metadata key of a discard run (`IndexJobInput.discard`): the `job_key` of the cancelled job."""

CONCURRENCY_EXPRESSION = "input.concurrency_key"
"""What the engine groups `repochat-index` runs by: one run per group, the others wait."""


class IndexJobInput(BaseModel):
    """Input of `repochat-index`: the request, its `job_key`, and the key its concurrency is grouped by."""

    request: IndexRequest
    job_key: str
    concurrency_key: str
    discard: bool = False
    """Not a job: delete the chunks a cancelled job of the request wrote. Such a run waits for its
    repository's slot like a job, so it never deletes the chunks of a job that runs after the cancel."""


class BatchInput(BaseModel):
    """Input of `repochat-index-batch`: one batch of a job, its files as references (never contents)."""

    batch: IndexBatch


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


def discard_input(request: IndexRequest) -> IndexJobInput:
    return job_input(request).model_copy(update={"discard": True})


def discard_metadata(request: IndexRequest) -> dict[str, str]:
    """A job's metadata without `JOB_KEY` (a submission must not join this run), and what it does."""
    metadata = job_metadata(request)
    return {DISCARDS: metadata.pop(JOB_KEY), **metadata}
