"""Hatchet runs read as jobs, the progress line format, the task inputs' JSON and keys: no engine needed.

The runs are the SDK's own REST models, built by hand with what the engine's API returns.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hatchet_sdk import NonRetryableException, TaskRunError, V1TaskStatus
from hatchet_sdk.clients.rest.models.api_resource_meta import APIResourceMeta
from hatchet_sdk.clients.rest.models.v1_task_summary import V1TaskSummary
from hatchet_sdk.clients.rest.models.v1_workflow_run import V1WorkflowRun
from hatchet_sdk.clients.rest.models.v1_workflow_type import V1WorkflowType
from pydantic import TypeAdapter

from adapters.queue.hatchet.contract import (
    DISCARDS,
    JOB_KEY,
    BatchInput,
    IndexJobInput,
    concurrency_key,
    discard_input,
    discard_metadata,
    job_input,
    job_key,
    job_metadata,
)
from adapters.queue.hatchet.progress import LoggedProgress, ProgressLog, progress_line, read_progress_line
from adapters.queue.hatchet.runs import IndexRun, job_of
from adapters.queue.hatchet.task_policy import INDEX_POLICY, attempt_error
from application.ports.jobs import BatchOutcome, IndexBatch
from application.ports.sources import SourceVersion
from domain.documents import FileEntry, SkipCounts
from domain.errors import InvalidInput, NotFound, UpstreamUnavailable
from domain.jobs import IndexRequest, IndexResult, JobState, Progress
from domain.sources import SourceKind, SourceSpec

RUN_ID = "0b3f0c4e-5d7a-4c1e-9a52-6f1d2a8b7c90"
TASK_ID = "5c6d7e8f-9a0b-4c1d-8e2f-3a4b5c6d7e8f"
TENANT = "707d0855-80ab-4e1f-a156-f1c4546cbf52"
CREATED = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
STARTED = datetime(2026, 3, 1, 9, 31, tzinfo=UTC)
FINISHED = datetime(2026, 3, 1, 9, 45, 12, 500000, tzinfo=UTC)
GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)

REQUEST = IndexRequest(SourceSpec(SourceKind.GITHUB, "acme/docs", "main", "site", ("*.md",), ("drafts/**",)), "team")
REQUEST_JSON = {
    "source": {
        "kind": "github",
        "location": "acme/docs",
        "ref": "main",
        "subdir": "site",
        "include": ["*.md"],
        "exclude": ["drafts/**"],
    },
    "collection": "team",
}
"""The index request as this build writes it into a run's input."""
JOB_INPUT = {"request": REQUEST_JSON, "job_key": "team:main:acme/docs/site", "concurrency_key": "team:acme/docs/site"}
"""A run's input as builds before refs wrote it: their job key was the concurrency key."""
RESULT = IndexResult(
    files_indexed=3,
    files_unchanged=7,
    files_skipped=1,
    chunks_written=42,
    embedding_calls=2,
    commit="c0ffee",
    skipped=SkipCounts(binary=1),
)


def details(
    status: V1TaskStatus,
    *,
    task_input: dict[str, Any] | None = None,
    output: dict[str, Any] | None = None,
    error: str | None = None,
    started: datetime | None = None,
    finished: datetime | None = None,
) -> V1WorkflowRun:
    """A run as `GET /api/v1/stable/workflow-runs/{id}` describes it: the task input nested under "input"."""
    return V1WorkflowRun(
        metadata=meta(RUN_ID),
        status=status,
        tenantId=TENANT,
        displayName="repochat-index",
        workflowId="wf-index",
        input={"input": JOB_INPUT if task_input is None else task_input, "triggers": {}},
        output=output or {},
        errorMessage=error,
        createdAt=CREATED,
        startedAt=started,
        finishedAt=finished,
    )


def summary(status: V1TaskStatus, *, started: datetime | None, finished: datetime | None) -> V1TaskSummary:
    """A row of a run listing: the task input itself, and the run id apart from the task's."""
    return V1TaskSummary(
        metadata=meta(TASK_ID),
        createdAt=CREATED,
        displayName="repochat-index",
        input=JOB_INPUT,
        numSpawnedChildren=0,
        output={},
        status=status,
        taskExternalId=TASK_ID,
        taskId=1,
        taskInsertedAt=CREATED,
        tenantId=TENANT,
        type=V1WorkflowType.TASK,
        workflowId="wf-index",
        workflowRunExternalId=RUN_ID,
        startedAt=started,
        finishedAt=finished,
    )


def meta(resource_id: str) -> APIResourceMeta:
    return APIResourceMeta(id=resource_id, createdAt=CREATED, updatedAt=CREATED)


def failure_serialized_by_the_sdk(message: str) -> str:
    """The error text a worker reports for a task that raised (what the engine keeps as the run's error)."""
    try:
        raise NonRetryableException(message)
    except NonRetryableException as e:
        return TaskRunError.from_exception(e, TASK_ID).serialize(include_metadata=True)


@pytest.mark.parametrize(
    ("status", "state"),
    [
        (V1TaskStatus.QUEUED, JobState.QUEUED),
        (V1TaskStatus.RUNNING, JobState.RUNNING),
        (V1TaskStatus.COMPLETED, JobState.SUCCEEDED),
        (V1TaskStatus.FAILED, JobState.FAILED),
        (V1TaskStatus.CANCELLED, JobState.CANCELLED),
    ],
)
def test_every_run_status_is_a_job_state(status: V1TaskStatus, state: JobState) -> None:
    job = job_of(IndexRun.of_details(details(status)))

    assert job.state is state
    assert job.id == RUN_ID
    assert job.request == REQUEST
    assert job.repository == "acme/docs/site"


def test_a_queued_run_is_a_queued_job_without_progress() -> None:
    run = IndexRun.of_details(details(V1TaskStatus.QUEUED))

    assert not run.shows_logged_progress
    job = job_of(run)
    assert (job.stage, job.progress, job.result, job.error) == ("queued", Progress(), None, None)
    assert job.created_at == job.updated_at == "2026-03-01T09:30:00.000+00:00"


def test_a_succeeded_run_has_its_output_as_result_and_every_file_done() -> None:
    output = {
        "files_indexed": 3,
        "files_unchanged": 7,
        "files_deleted": 0,
        "files_skipped": 1,
        "chunks_written": 42,
        "chunks_deleted": 0,
        "embedding_calls": 2,
        "commit": "c0ffee",
        "skipped": {"binary": 1, "too_large": 0, "unsafe": 0, "filtered": 0, "bad_name": 0},
    }
    run = IndexRun.of_details(details(V1TaskStatus.COMPLETED, output=output, started=STARTED, finished=FINISHED))

    assert not run.shows_logged_progress
    job = job_of(run)
    assert job.result == RESULT
    assert job.stage == "done"
    assert job.progress == Progress(files_total=10, files_done=10, chunks_written=42)
    assert job.updated_at == "2026-03-01T09:45:12.500+00:00"


def test_a_succeeded_run_without_output_has_no_result() -> None:
    job = job_of(IndexRun.of_details(details(V1TaskStatus.COMPLETED)))

    assert job.result is None
    assert job.progress == Progress()


def test_a_failed_run_shows_the_error_message_without_the_traceback() -> None:
    error = failure_serialized_by_the_sdk("batch 2 of 3 failed: embedding service answered 500")
    run = IndexRun.of_details(details(V1TaskStatus.FAILED, error=error))

    assert "Traceback" in error
    assert run.shows_logged_progress
    job = job_of(run, LoggedProgress("embedding", Progress(24, 8, 90)))
    assert job.error == "batch 2 of 3 failed: embedding service answered 500"
    assert job.progress == Progress(24, 8, 90)
    assert job.result is None


def test_a_failed_run_with_an_error_not_in_the_sdk_form_shows_its_first_line() -> None:
    job = job_of(IndexRun.of_details(details(V1TaskStatus.FAILED, error="task timed out\nafter 15m")))

    assert job.error == "task timed out"


def test_a_failed_run_without_an_error_message_says_it_failed() -> None:
    job = job_of(IndexRun.of_details(details(V1TaskStatus.FAILED)))

    assert job.error == "the job failed"
    assert job.progress == Progress()


def test_a_running_run_shows_its_newest_progress_line() -> None:
    run = IndexRun.of_details(details(V1TaskStatus.RUNNING, started=STARTED))

    assert run.shows_logged_progress
    job = job_of(run, LoggedProgress("embedding", Progress(24, 16, 120)))
    assert (job.state, job.stage, job.progress) == (JobState.RUNNING, "embedding", Progress(24, 16, 120))
    assert job.updated_at == "2026-03-01T09:31:00.000+00:00"


def test_a_running_run_that_logged_no_progress_yet_is_starting() -> None:
    job = job_of(IndexRun.of_details(details(V1TaskStatus.RUNNING)))

    assert (job.stage, job.progress) == ("starting", Progress())


def test_a_cancelled_run_keeps_the_progress_it_made_and_has_no_error() -> None:
    job = job_of(IndexRun.of_details(details(V1TaskStatus.CANCELLED)), LoggedProgress("embedding", Progress(24, 8, 90)))

    assert (job.state, job.stage, job.progress, job.error) == (
        JobState.CANCELLED,
        "cancelled",
        Progress(24, 8, 90),
        None,
    )


def test_go_zero_times_count_as_unset() -> None:
    run = IndexRun.of_details(details(V1TaskStatus.QUEUED, started=GO_ZERO_TIME, finished=GO_ZERO_TIME))

    assert run.updated_at == CREATED


def test_a_listed_run_is_read_from_its_summary_with_the_input_not_nested() -> None:
    run = IndexRun.of_summary(summary(V1TaskStatus.RUNNING, started=STARTED, finished=GO_ZERO_TIME))

    assert run.id == RUN_ID
    assert run.job_input == IndexJobInput(
        request=REQUEST, job_key="team:main:acme/docs/site", concurrency_key="team:acme/docs/site"
    )
    assert run.updated_at == STARTED
    assert run.created == CREATED


def test_a_run_whose_input_is_not_a_repochat_job_is_no_job() -> None:
    run = IndexRun.of_details(details(V1TaskStatus.COMPLETED, task_input={"name": "someone else's"}))

    assert run.job_input is None
    with pytest.raises(NotFound):
        job_of(run)


def test_the_job_input_reads_back_as_written() -> None:
    written = job_input(REQUEST)

    assert written.model_dump(mode="json") == {**JOB_INPUT, "discard": False}
    assert IndexJobInput.model_validate(JOB_INPUT) == written


def test_a_discard_run_waits_for_its_job_s_repository_but_is_no_job_and_no_submission_joins_it() -> None:
    discard = discard_input(REQUEST)
    run = IndexRun.of_details(details(V1TaskStatus.RUNNING, task_input=discard.model_dump(mode="json")))

    assert discard.concurrency_key == job_input(REQUEST).concurrency_key
    assert run.job_input is None
    with pytest.raises(NotFound):
        job_of(run)
    assert JOB_KEY not in discard_metadata(REQUEST)
    assert discard_metadata(REQUEST)[DISCARDS] == job_key(REQUEST)


@pytest.mark.parametrize(
    ("error", "retry_count", "retried"),
    [
        (UpstreamUnavailable("Chroma is down"), 0, True),
        (UpstreamUnavailable("Chroma is down"), INDEX_POLICY.retries, False),
        (RuntimeError("a bug"), INDEX_POLICY.retries - 1, True),
        (RuntimeError("a bug"), INDEX_POLICY.retries, False),
        (InvalidInput("no such folder"), 0, False),
        (NonRetryableException("batch 3 of 9 failed"), 0, False),
    ],
)
def test_a_failure_is_retried_until_the_last_attempt_which_ends_the_run_with_its_message(
    error: Exception, retry_count: int, retried: bool
) -> None:
    raised = attempt_error(error, retry_count, INDEX_POLICY)

    assert isinstance(raised, NonRetryableException) is not retried
    assert str(error) in str(raised)


def test_a_run_whose_input_an_earlier_build_wrote_without_a_concurrency_key_is_no_job() -> None:
    earlier = {"request": REQUEST_JSON, "job_key": "team:acme/docs/site"}
    run = IndexRun.of_details(details(V1TaskStatus.QUEUED, task_input=earlier))

    assert run.job_input is None
    with pytest.raises(NotFound):
        job_of(run)


def test_each_ref_of_a_repository_is_a_job_of_its_own_and_all_share_one_concurrency_key() -> None:
    refs = [None, "main", "v1", "release/2.0", "0123abc"]
    requests = [replace(REQUEST, source=replace(REQUEST.source, ref=ref)) for ref in refs]

    assert len({job_key(request) for request in requests}) == len(refs)
    assert {concurrency_key(request) for request in requests} == {"team:acme/docs/site"}
    assert job_key(requests[0]) == "team::acme/docs/site"
    assert job_key(requests[3]) == "team:release/2.0:acme/docs/site"


def test_a_folder_named_like_a_ref_is_not_that_ref_of_another_folder() -> None:
    """Colons may occur in a repository id: joined naively, both would read `team:local:/docs:v1`."""
    folder_named_v1 = local_request("team", None, "local:/docs:v1")
    folder_at_v1 = local_request("team", "v1", "local:/docs")

    assert job_key(folder_named_v1) != job_key(folder_at_v1)


def test_the_job_key_splits_back_into_collection_ref_and_repository() -> None:
    request = local_request("team", "v1", "local:/srv/a:b")

    collection, ref, repository = job_key(request).split(":", 2)
    assert (collection, ref, repository) == ("team", "v1", "local:/srv/a:b")


def test_the_metadata_holds_the_job_key_and_names_the_ref_when_there_is_one() -> None:
    assert job_metadata(REQUEST) == {
        JOB_KEY: "team:main:acme/docs/site",
        "repository": "acme/docs/site",
        "collection": "team",
        "ref": "main",
    }
    default_branch = replace(REQUEST, source=replace(REQUEST.source, ref=None))
    assert "ref" not in job_metadata(default_branch)


def local_request(collection: str, ref: str | None, repository_id: str) -> IndexRequest:
    """A request whose repository id is `repository_id` (`local:` + the folder)."""
    assert repository_id.startswith("local:")
    return IndexRequest(SourceSpec(SourceKind.LOCAL, repository_id.removeprefix("local:"), ref), collection)


def test_a_batch_input_round_trips_its_request_version_and_files() -> None:
    version = SourceVersion("acme/docs/site", "c0ffee", "https://github.com/acme/docs", "W/1", '{"archive": true}')
    batch = BatchInput(batch=IndexBatch(REQUEST, version, (FileEntry("a.md", "b1", 12),), 1, 4))

    data = batch.model_dump(mode="json")
    assert data["batch"]["version"] == {
        "repository": "acme/docs/site",
        "commit": "c0ffee",
        "web_url": "https://github.com/acme/docs",
        "etag": "W/1",
        "fetch_plan": '{"archive": true}',
    }
    assert data["batch"]["files"] == [{"path": "a.md", "blob_sha": "b1", "size": 12}]
    assert (data["batch"]["number"], data["batch"]["of"]) == (1, 4)
    assert BatchInput.model_validate(data) == batch


def test_a_batch_outcome_round_trips_as_the_sdk_writes_a_task_output() -> None:
    outcome = BatchOutcome({"a.md": 2}, ("logo.png",), 2, 1, 1)
    as_sdk = TypeAdapter(BatchOutcome)

    assert as_sdk.validate_json(as_sdk.dump_json(outcome)) == outcome


def test_a_progress_line_reads_back_as_what_was_written() -> None:
    logged = LoggedProgress("embedding", Progress(24, 16, 120))
    line = progress_line(logged)

    assert line == '{"stage": "embedding", "files_total": 24, "files_done": 16, "chunks_written": 120}'
    assert read_progress_line(line) == logged


@pytest.mark.parametrize("message", ["fetching archive", "{not json", '["stage"]', '{"files_total": 3}', "{}"])
def test_other_log_lines_are_no_progress(message: str) -> None:
    assert read_progress_line(message) is None


async def test_the_progress_log_writes_a_line_per_change() -> None:
    lines: list[str] = []

    async def write_line(line: str) -> None:
        lines.append(line)

    progress = ProgressLog(write_line)
    await progress.report("embedding", Progress(4, 0, 0))
    await progress.report("embedding", Progress(4, 0, 0))
    await progress.report("waiting for rate limit", Progress(4, 0, 0))
    await progress.report("waiting for rate limit", Progress(4, 0, 0))
    await progress.report("embedding", Progress(4, 2, 9))

    assert [read_progress_line(line) for line in lines] == [
        LoggedProgress("embedding", Progress(4, 0, 0)),
        LoggedProgress("waiting for rate limit", Progress(4, 0, 0)),
        LoggedProgress("embedding", Progress(4, 2, 9)),
    ]
