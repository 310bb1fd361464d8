"""/v1/keys: the API keys, for admins (the same use cases as `repochat keys`), so a running server's keys
are managed through it, embedded Chroma's data folder included.

Routes evaluate their annotations at import (no `from __future__ import annotations`):
dependency-injector finds the `Provide` markers in the `Annotated` types of the live signatures.
"""

from typing import Annotated

from dependency_injector.wiring import Provide, inject
from fastapi import Depends

from application.keys import CreateKey, ListKeys, RevokeKey
from domain.access import Scope
from entrypoints.container import Container
from entrypoints.http.errors import error_responses
from entrypoints.http.schemas import KeyBody
from entrypoints.http.security import CurrentCaller, v1_router
from entrypoints.key_views import CreatedKey, KeyList, KeyView

router = v1_router()


@router.post("/keys", status_code=201, response_model=CreatedKey, responses=error_responses(400))
@inject
async def create_key(
    body: KeyBody, caller: CurrentCaller, create: Annotated[CreateKey, Depends(Provide[Container.create_key])]
) -> CreatedKey:
    """A new key, in this answer only: the server keeps its hash. Every replica takes it within
    REPOCHAT_KEY_CACHE_SECONDS."""
    scope = Scope(tuple(body.collections), tuple(body.repositories))
    return CreatedKey.created(await create.execute(body.name, body.role, scope, caller=caller))


@router.get("/keys", response_model=KeyList)
@inject
async def list_keys(caller: CurrentCaller, keys: Annotated[ListKeys, Depends(Provide[Container.list_keys])]) -> KeyList:
    """Every stored key's name, role, scope and creation time; never a key (REPOCHAT_API_KEYS are not listed)."""
    return KeyList.of(await keys.execute(caller=caller))


@router.delete("/keys/{name}", response_model=KeyView, responses=error_responses(404), summary="Revoke Key")
@inject
async def revoke_key(
    name: str, caller: CurrentCaller, revoke: Annotated[RevokeKey, Depends(Provide[Container.revoke_key])]
) -> KeyView:
    """The key revoked: every replica refuses it within REPOCHAT_KEY_CACHE_SECONDS (this one at once)."""
    return KeyView.of(await revoke.execute(name, caller=caller))
