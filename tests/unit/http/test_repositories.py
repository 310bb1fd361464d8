"""/v1/repositories: index requests, and the indexed repositories listed and forgotten one entry per ref."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from application.access import ANONYMOUS
from application.repositories import IndexedRepository
from domain.documents import Manifest
from domain.errors import NotFound
from domain.jobs import IndexRequest
from entrypoints.container import Container
from tests.unit.fakes import RecordingUseCase
from tests.unit.http.helpers import (
    FINISHED_JOB,
    use,
)


async def test_index_request_queues_a_job_and_answers_202_with_it(
    container: Container, client: httpx.AsyncClient
) -> None:
    submit = RecordingUseCase(FINISHED_JOB)
    use(container.submit_index_job, submit)

    body = {"source": "github:owner/repo@v2", "collection": "docs", "include": ["docs/**"]}
    response = await client.post("/v1/repositories", json=body)

    assert response.status_code == 202
    assert response.json()["job_id"] == "job-1" and response.json()["repository"] == "owner/repo"
    (request, caller) = submit.calls[0]
    assert isinstance(request, IndexRequest) and request.collection == "docs" and caller == ANONYMOUS
    assert (request.source.location, request.source.ref, request.source.include) == ("owner/repo", "v2", ("docs/**",))


MAIN = Manifest("owner/repo", "github:owner/repo", "c0ffee" * 6, {"a.md": "1"}, {"a.md": 2},
                "2026-01-01T00:00:00+00:00", web_url="https://github.com/owner/repo")  # fmt: skip


V1 = replace(MAIN, commit="0ff1ce" * 6, ref="v1", indexed_at="2026-01-02T00:00:00+00:00")


def repository_json(manifest: Manifest, searched_by_default: bool) -> dict[str, Any]:
    """The entry of `manifest` in collection `docs`, but its sync (the sync tests' business)."""
    return {
        "id": "owner/repo",
        "collection": "docs",
        "source": "github:owner/repo",
        "ref": manifest.ref,
        "commit": manifest.commit,
        "searched_by_default": searched_by_default,
        "files": 1,
        "chunks": 2,
        "indexed_at": manifest.indexed_at,
        "web_url": "https://github.com/owner/repo",
    }


def without_sync(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{name: value for name, value in entry.items() if name != "sync"} for entry in entries]


async def test_repositories_are_listed_one_per_ref_with_its_commit_and_the_one_searched_by_default(
    container: Container, client: httpx.AsyncClient
) -> None:
    entries = [IndexedRepository("docs", MAIN), IndexedRepository("docs", V1, searched_by_default=False)]
    use(container.list_repositories, RecordingUseCase(entries))
    use(container.get_repository, RecordingUseCase(entries))

    listed = (await client.get("/v1/repositories")).json()
    shown = (await client.get("/v1/repositories/owner/repo")).json()

    assert without_sync(listed["repositories"]) == [repository_json(MAIN, True), repository_json(V1, False)]
    assert shown == {"repository": "owner/repo", "collections": listed["repositories"]}


@pytest.mark.parametrize(
    ("query", "called"),
    [
        ({}, ("owner/repo", None, None, ANONYMOUS)),
        ({"ref": "v1"}, ("owner/repo", None, "v1", ANONYMOUS)),
        ({"ref": "HEAD", "collection": "docs"}, ("owner/repo", "docs", "HEAD", ANONYMOUS)),
    ],
)
async def test_forget_takes_one_ref_and_one_collection_from_the_query(
    container: Container, client: httpx.AsyncClient, query: dict[str, str], called: tuple[object, ...]
) -> None:
    forget = RecordingUseCase([IndexedRepository("docs", V1, searched_by_default=False)])
    use(container.forget_repository, forget)

    response = await client.delete(f"/v1/repositories/owner/repo?{urlencode(query)}")

    assert forget.calls == [called]
    assert without_sync(response.json()["forgotten"]) == [repository_json(V1, False)]


async def test_forgetting_a_ref_not_indexed_is_a_404_naming_the_refs_that_are(
    container: Container, client: httpx.AsyncClient
) -> None:
    missing = NotFound("repository 'owner/repo' is not indexed at v9; indexed: the default branch, v1")
    use(container.forget_repository, RecordingUseCase[list[IndexedRepository]](missing))

    response = await client.delete("/v1/repositories/owner/repo?ref=v9")

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": missing.message}}
