"""/v1/search: the passages that answer a query, ranked.

Routes evaluate their annotations at import (no `from __future__ import annotations`):
dependency-injector finds the `Provide` markers in the `Annotated` types of the live signatures.
"""

from typing import Annotated

from dependency_injector.wiring import Provide, inject
from fastapi import Depends

from application.search import Search, SearchRequest
from entrypoints.container import Container
from entrypoints.http.errors import error_responses
from entrypoints.http.schemas import SearchBody
from entrypoints.http.security import CurrentCaller, v1_router
from entrypoints.views import SearchResponse

router = v1_router()


@router.post("/search", response_model=SearchResponse, responses=error_responses(400, 404, 429))
@inject
async def search(
    body: SearchBody,
    caller: CurrentCaller,
    search_documents: Annotated[Search, Depends(Provide[Container.search])],
) -> SearchResponse:
    filters = body.filters
    request = SearchRequest(
        body.query, body.k, body.collection, filters.repository, body.mode, ref=filters.ref, caller=caller
    )
    found = await search_documents.execute(request)
    return SearchResponse.of(found.mode, found.hits)
