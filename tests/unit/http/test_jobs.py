"""/v1/jobs: jobs shown with their ref, progress and result; the listing's limit."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from application.access import ANONYMOUS
from domain.jobs import IndexRequest, Job
from entrypoints.container import Container
from tests.unit.fakes import RecordingUseCase
from tests.unit.http.helpers import (
    FINISHED_JOB,
    SPEC,
    use,
)


async def test_a_job_of_a_named_ref_says_which(container: Container, client: httpx.AsyncClient) -> None:
    tagged = replace(FINISHED_JOB, request=IndexRequest(replace(SPEC, ref="v2"), "docs"))
    use(container.get_job, RecordingUseCase(tagged))

    job = (await client.get("/v1/jobs/job-1")).json()

    assert (job["repository"], job["ref"]) == ("owner/repo", "v2")


async def test_a_job_is_shown_with_its_progress_and_result(container: Container, client: httpx.AsyncClient) -> None:
    get = RecordingUseCase(FINISHED_JOB)
    use(container.get_job, get)

    job = (await client.get("/v1/jobs/job-1")).json()

    assert get.calls == [("job-1", ANONYMOUS)]
    assert job == {
        "id": "job-1",
        "repository": "owner/repo",
        "collection": "docs",
        "ref": None,
        "state": "succeeded",
        "stage": "done",
        "progress": {"files_total": 4, "files_done": 4, "chunks_written": 12},
        "result": {
            "files_indexed": 4,
            "files_unchanged": 0,
            "files_deleted": 0,
            "files_skipped": 0,
            "chunks_written": 12,
            "chunks_deleted": 0,
            "embedding_calls": 1,
            "commit": "c0ffee",
            "skipped": {"binary": 2, "too_large": 0, "unsafe": 0, "filtered": 0, "bad_name": 0},
            "chunks_reused": 0,
        },
        "error": None,
        "created_at": "2026-01-01T00:00:00+00:00",
        "updated_at": "2026-01-01T00:00:05+00:00",
    }


@pytest.mark.parametrize("limit", ["0", "-1", "501", str(10**30), "ten"])
async def test_the_jobs_listed_are_between_1_and_500(client: httpx.AsyncClient, limit: str) -> None:
    response = await client.get("/v1/jobs", params={"limit": limit})

    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("query.limit: ")


async def test_the_jobs_limit_reaches_the_use_case(container: Container, client: httpx.AsyncClient) -> None:
    jobs = RecordingUseCase[list[Job]]([])
    use(container.list_jobs, jobs)

    assert (await client.get("/v1/jobs", params={"limit": "500"})).status_code == 200
    assert jobs.calls == [(500, ANONYMOUS)]


async def test_a_query_parameter_given_twice_is_a_422_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/jobs?limit=1&limit=2")

    assert response.status_code == 422
    assert response.json()["error"]["message"] == "query.limit: given more than once: send it once"
