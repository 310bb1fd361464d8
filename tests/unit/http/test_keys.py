"""/v1/keys: admins create, list and revoke keys through a running server; other roles are refused."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from application.ports.access import StoredKey
from domain.access import Role, Scope, key_hash
from domain.jobs import Job
from entrypoints.container import Container
from entrypoints.http.app import create_app
from tests.unit.fakes import InMemoryKeyStore, RecordingUseCase
from tests.unit.http.helpers import container_of, settings, use

ADMIN = {"authorization": "Bearer env-admin"}
INDEXER = {"authorization": "Bearer rc_indexer"}


@pytest.fixture
def keyed(tmp_path: Path) -> tuple[Container, InMemoryKeyStore, FastAPI]:
    container = container_of(settings(data_dir=tmp_path, api_keys="env-admin"))
    keys = InMemoryKeyStore(StoredKey("indexer", Role.INDEX, Scope(), key_hash("rc_indexer"), "2026-01-01"))
    use(container.key_store, keys)
    use(container.list_jobs, RecordingUseCase[list[Job]]([]))
    return container, keys, create_app(container)


async def test_an_admin_creates_a_key_sees_it_listed_without_secrets_and_revokes_it(
    keyed: tuple[Container, InMemoryKeyStore, FastAPI],
) -> None:
    _, keys, app = keyed
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://repochat") as http:
        body = {"name": "docs-team", "role": "read", "collections": ["handbook"], "repositories": ["acme/*"]}
        created = await http.post("/v1/keys", json=body, headers=ADMIN)
        assert created.status_code == 201, created.text
        key = created.json()["key"]
        assert keys.keys["docs-team"].key_hash == key_hash(key)
        assert (await http.get("/v1/jobs", headers={"x-api-key": key})).status_code == 200

        listed = await http.get("/v1/keys", headers=ADMIN)
        assert [k["name"] for k in listed.json()["keys"]] == ["docs-team", "indexer"]
        assert listed.json()["keys"][0] == {
            "name": "docs-team", "role": "read", "collections": ["handbook"], "repositories": ["acme/*"],
            "created_at": keys.keys["docs-team"].created_at,
        }  # fmt: skip
        assert key not in listed.text and key_hash(key) not in listed.text

        revoked = await http.delete("/v1/keys/docs-team", headers=ADMIN)
        assert revoked.status_code == 200 and revoked.json() == listed.json()["keys"][0]
        assert (await http.get("/v1/jobs", headers={"x-api-key": key})).status_code == 403
        assert (await http.delete("/v1/keys/docs-team", headers=ADMIN)).status_code == 404
        assert (await http.post("/v1/keys", json=body | {"name": "indexer"}, headers=ADMIN)).status_code == 409
        assert (await http.post("/v1/keys", json=body | {"name": "two words"}, headers=ADMIN)).status_code == 400


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/v1/keys"), ("GET", "/v1/keys"), ("DELETE", "/v1/keys/indexer")]
)
async def test_keys_are_for_admins_only(
    keyed: tuple[Container, InMemoryKeyStore, FastAPI], method: str, path: str
) -> None:
    container, keys, app = keyed
    body = {"name": "mine", "role": "admin"} if method == "POST" else None
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://repochat") as http:
        refused = await http.request(method, path, json=body, headers=INDEXER)

    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_allowed"
    assert list(keys.keys) == ["indexer"]
    denied = container.metrics().registry.get_sample_value("repochat_access_denied_total", {"reason": "not_allowed"})
    assert denied == 1
