"""/v1/repositories: index a repository, list, read and forget the indexed ones.

Routes evaluate their annotations at import (no `from __future__ import annotations`):
dependency-injector finds the `Provide` markers in the `Annotated` types of the live signatures.
"""

from typing import Annotated

from dependency_injector.wiring import Provide, inject
from fastapi import Depends, Query

from application.jobs import SubmitIndexJob
from application.repositories import ForgetRepository, GetRepository, ListRepositories
from domain.jobs import IndexRequest
from entrypoints.container import Container
from entrypoints.http.errors import error_responses
from entrypoints.http.schemas import IndexBody, collection_filter
from entrypoints.http.security import CurrentCaller, v1_router
from entrypoints.source_input import LocalFolders, source_spec
from entrypoints.views import Forgotten, IndexAccepted, RepositoryDetail, RepositoryList

router = v1_router()

JOB_LINKS = {
    "GetJob": {"operationRef": "#/paths/~1v1~1jobs~1{job_id}/get", "parameters": {"job_id": "$response.body#/job_id"}},
    "CancelJob": {
        "operationRef": "#/paths/~1v1~1jobs~1{job_id}/delete",
        "parameters": {"job_id": "$response.body#/job_id"},
    },
    "GetRepository": {
        "operationRef": "#/paths/~1v1~1repositories~1{repository}/get",
        "parameters": {"repository": "$response.body#/repository"},
    },
}
"""OpenAPI links: the job an index request queued, and the repository it indexes (once the job is done)."""


@router.post(
    "/repositories",
    status_code=202,
    response_model=IndexAccepted,
    responses={202: {"description": "The index job, queued", "links": JOB_LINKS}, **error_responses(400)},
)
@inject
async def index_repository(
    body: IndexBody,
    caller: CurrentCaller,
    submit: Annotated[SubmitIndexJob, Depends(Provide[Container.submit_index_job])],
    local: Annotated[LocalFolders, Depends(Provide[Container.local_folders])],
) -> IndexAccepted:
    spec = source_spec(body.source, body.ref, body.include, body.exclude, local)
    return IndexAccepted.of(await submit.execute(IndexRequest(spec, body.collection), caller))


@router.get("/repositories", response_model=RepositoryList, responses=error_responses(400))
@inject
async def list_repositories(
    caller: CurrentCaller,
    repositories: Annotated[ListRepositories, Depends(Provide[Container.list_repositories])],
    collection: Annotated[str | None, collection_filter("Only this collection's; omitted: every collection's")] = None,
) -> RepositoryList:
    """Every indexed ref of every repository: one entry per (collection, repository, ref), with its commit."""
    return RepositoryList.of(await repositories.execute(collection, caller))


@router.get("/repositories/{repository:path}", response_model=RepositoryDetail, responses=error_responses(404))
@inject
async def get_repository(
    repository: str, caller: CurrentCaller, get: Annotated[GetRepository, Depends(Provide[Container.get_repository])]
) -> RepositoryDetail:
    return RepositoryDetail.of(repository, await get.execute(repository, caller))


@router.delete("/repositories/{repository:path}", response_model=Forgotten, responses=error_responses(400, 404))
@inject
async def forget_repository(
    repository: str,
    caller: CurrentCaller,
    forget: Annotated[ForgetRepository, Depends(Provide[Container.forget_repository])],
    collection: Annotated[str | None, collection_filter("Only from this collection; omitted: from every one")] = None,
    ref: Annotated[
        str | None,
        Query(
            description="Only this branch, tag or commit SHA (`HEAD`: the default branch), keeping the repository's "
            "other refs searchable; omitted: every ref. A ref not indexed is a 404 naming the refs that are"
        ),
    ] = None,
) -> Forgotten:
    """Forget a repository, at every ref or at one: its passages leave the index, and searches.
    With `ref` or `collection`, the repository's other refs and collections stay readable here."""
    return Forgotten.of(await forget.execute(repository, collection, ref, caller))
