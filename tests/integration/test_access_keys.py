"""Scoped API keys over real HTTP: what each role and scope may see and do on every /v1 route, chat
completions, /v1/models and the /mcp tools (through the MCP SDK's client); keys never in the log; a
key revoked is refused by every replica of a shared Chroma within seconds.

One server holds three local folders: `docs` and `secret` in the collection `team`, `elsewhere` in
`other`. The `reader` and `indexer` keys may see `team`'s `docs` only; `secret` holds far more
passages matching the query than `docs` does, so a filter applied after ranking would come back short.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from tests.integration.helpers import ApiServer, ServeFactory, repochat, repochat_env, wait_until

ADMIN_KEY = "env-admin-key-0123456789"
SECRET_MARK = "QUOKKA7731"
OTHER_MARK = "WOMBAT4242"
QUERY = "zanzibar widget setup"


@dataclass
class Deployment:
    api: ApiServer
    keys: dict[str, str]
    folders: dict[str, Path]
    ids: dict[str, str]
    jobs: dict[str, str]
    """The id of the job that indexed each folder."""

    def headers(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.keys[who]}"}

    def call(self, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.api.client.request(method, path, headers=self.headers(who), **kwargs)


def write_folders(root: Path) -> dict[str, Path]:
    folders = {name: root / name for name in ("docs", "secret", "elsewhere")}
    for number in range(6):
        write(folders["docs"] / f"guide{number}.md", f"# Guide {number}\n\nThe zanzibar widget setup, step {number}.\n")
    for number in range(40):
        text = f"# Secret {number}\n\nZanzibar widget setup {SECRET_MARK}: the zanzibar widget setup password.\n"
        write(folders["secret"] / f"secret{number}.md", text)
    for number in range(3):
        write(folders["elsewhere"] / f"note{number}.md", f"# Note\n\nZanzibar widget setup {OTHER_MARK}.\n")
    return folders


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def create_key(env: dict[str, str], name: str, role: str, *scope: str) -> str:
    created = repochat("keys", "create", name, "--role", role, *scope, env=env)
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("access").resolve()
    folders = write_folders(root)
    ids = {name: f"local:{folder}" for name, folder in folders.items()}
    env = repochat_env(root / "data")
    only_docs = ("--collection", "team", "--repository", "local:*/docs")
    keys = {
        "reader": create_key(env, "reader", "read", *only_docs),
        "indexer": create_key(env, "indexer", "index", *only_docs),
        "everything-reader": create_key(env, "everything-reader", "read"),
        "admin": ADMIN_KEY,
    }
    server_env = repochat_env(root / "data", REPOCHAT_API_KEYS=ADMIN_KEY, REPOCHAT_LOCAL_ROOTS=str(root))
    api = ApiServer(server_env, root / "serve.log").wait_ready()
    api.client.headers["authorization"] = f"Bearer {ADMIN_KEY}"  # wait_for_job's
    jobs = {}
    for name, collection in (("docs", "team"), ("secret", "team"), ("elsewhere", "other")):
        accepted = api.client.post("/v1/repositories", json={"source": str(folders[name]), "collection": collection})
        assert accepted.status_code == 202, accepted.text
        jobs[name] = accepted.json()["job_id"]
        assert api.wait_for_job(jobs[name])["state"] == "succeeded"
    yield Deployment(api, keys, folders, ids, jobs)
    api.close()


def assert_shows_only_docs(deployment: Deployment, text: str) -> None:
    """Nothing of `secret` or `elsewhere`: neither their content nor their names."""
    for leak in (SECRET_MARK, OTHER_MARK, str(deployment.folders["secret"]), str(deployment.folders["elsewhere"])):
        assert leak not in text, f"{leak!r} leaked: {text[:2000]}"


NOWHERE = "local:/nowhere/never-indexed"
NO_JOB = "0123456789abcdef0123456789abcdef"


def as_if_absent(
    d: Deployment, who: str, method: str, path: str, hidden: str, absent: str, status: int = 404, **kwargs: Any
) -> None:
    """The call naming `hidden` (out of the caller's scope) answers exactly as the same call naming `absent`
    (which never existed), but for the name itself: a 404, or the `status` a role refusal gives either."""
    seen = d.call(who, method, path.format(hidden), **kwargs)
    twin = d.call(who, method, path.format(absent), **kwargs)
    assert seen.status_code == twin.status_code == status, (seen.text, twin.text)
    assert seen.text.replace(hidden, "X") == twin.text.replace(absent, "X")


@pytest.mark.parametrize("who", ["reader", "indexer"])
def test_a_scoped_key_reads_its_repositories_only_on_every_read_route(deployment: Deployment, who: str) -> None:
    call, d = deployment.call, deployment
    searched = call(who, "POST", "/v1/search", json={"query": QUERY, "k": 5, "collection": "team"})
    hits = searched.json()["hits"]
    assert searched.status_code == 200 and len(hits) == 5, "in-scope searches keep returning k hits"
    assert {hit["repository"] for hit in hits} == {d.ids["docs"]}
    for mode in ("dense", "keyword"):
        body = {"query": QUERY, "k": 5, "collection": "team", "mode": mode}
        assert len(call(who, "POST", "/v1/search", json=body).json()["hits"]) == 5, mode

    responses = [
        searched,
        call(who, "POST", "/v1/ask", json={"question": QUERY, "collection": "team"}),
        call(who, "POST", "/v1/ask", json={"question": QUERY, "collection": "team", "stream": True}),
        call(who, "POST", "/v1/chat/completions", json={"model": "repochat:team", "messages": [user(QUERY)]}),
        call(who, "GET", "/v1/repositories"),
        call(who, "GET", "/v1/repositories", params={"collection": "team"}),
        call(who, "GET", f"/v1/repositories/{d.ids['docs']}"),
        call(who, "GET", "/v1/models"),
        call(who, "GET", "/v1/models/repochat:team"),
        call(who, "GET", "/v1/jobs"),
        call(who, "GET", f"/v1/jobs/{d.jobs['docs']}"),
    ]
    for response in responses:
        assert response.status_code == 200, (response.request.url, response.text)
        assert_shows_only_docs(deployment, response.text)
    assert [entry["id"] for entry in responses[4].json()["repositories"]] == [d.ids["docs"]]
    assert [job["id"] for job in responses[9].json()["jobs"]] == [d.jobs["docs"]]
    assert [model["id"] for model in responses[7].json()["data"]] == ["repochat", "repochat:team"]
    assert responses[3].json()["citations"], "the answer cites docs"


@pytest.mark.parametrize("who", ["reader", "indexer"])
def test_out_of_scope_is_not_found_exactly_as_what_does_not_exist(deployment: Deployment, who: str) -> None:
    call, d = deployment.call, deployment
    for name in ("secret", "elsewhere"):
        for method in ("GET", "DELETE"):
            refused = 403 if (who, method) == ("reader", "DELETE") else 404  # a role refusal comes first
            as_if_absent(d, who, method, "/v1/repositories/{}", d.ids[name], NOWHERE, refused)
            as_if_absent(d, who, method, "/v1/jobs/{}", d.jobs[name], NO_JOB)
        for route, text in (("/v1/search", "query"), ("/v1/ask", "question")):
            filtered = {text: QUERY, "collection": "team", "filters": {"repository": d.ids[name]}}
            response = call(who, "POST", route, json=filtered)
            twin = call(who, "POST", route, json=filtered | {"filters": {"repository": NOWHERE}})
            assert response.status_code == twin.status_code, response.text
            assert response.text.replace(d.ids[name], "X") == twin.text.replace(NOWHERE, "X")
            assert_shows_only_docs(d, response.text.replace(d.ids[name], "X"))
    for model in ("repochat:other", "repochat:nowhere"):
        missing = call(who, "POST", "/v1/chat/completions", json={"model": model, "messages": [user(QUERY)]})
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"
        assert call(who, "GET", f"/v1/models/{model}").status_code == 404
    other = call(who, "POST", "/v1/search", json={"query": QUERY, "collection": "other"})
    assert other.status_code in (200, 404) and OTHER_MARK not in other.text and not other.json().get("hits")


def test_roles_decide_who_indexes_cancels_and_forgets(deployment: Deployment) -> None:
    call, d = deployment.call, deployment
    docs = {"source": str(d.folders["docs"]), "collection": "team"}
    refused = [
        call("reader", "POST", "/v1/repositories", json=docs),
        call("reader", "DELETE", f"/v1/repositories/{d.ids['docs']}"),
        call("reader", "DELETE", f"/v1/jobs/{d.jobs['docs']}"),
        call("everything-reader", "DELETE", f"/v1/jobs/{d.jobs['secret']}"),
    ]
    for response in refused:
        assert response.status_code == 403 and response.json()["error"]["code"] == "not_allowed", response.text
    secret = call(
        "indexer", "POST", "/v1/repositories", json={"source": str(d.folders["secret"]), "collection": "team"}
    )
    assert secret.status_code == 404 and SECRET_MARK not in secret.text, secret.text
    assert call("indexer", "POST", "/v1/repositories", json=docs | {"collection": "other"}).status_code == 404

    queued = call("indexer", "POST", "/v1/repositories", json=docs)
    assert queued.status_code == 202, queued.text
    assert d.api.wait_for_job(queued.json()["job_id"])["state"] == "succeeded"
    assert call("indexer", "DELETE", f"/v1/jobs/{queued.json()['job_id']}").status_code == 200
    missing_ref = call("indexer", "DELETE", f"/v1/repositories/{d.ids['docs']}", params={"ref": "no-such-ref"})
    assert missing_ref.status_code == 404, "the index role may forget: only the ref is missing"
    assert d.ids["secret"] in call("everything-reader", "GET", "/v1/repositories").text, "an unscoped key sees all"

    assert denials(d, "not_allowed") >= len(refused)


async def test_the_mcp_tools_act_as_the_key_s_caller(deployment: Deployment) -> None:
    d = deployment
    refused_before = denials(d, "not_allowed")
    async with mcp_client(d, "reader") as client:
        answers = {
            "list_repositories": await client.call_tool("list_repositories", {}),
            "resolve_repository": await client.call_tool("resolve_repository", {"name": "secret"}),
            "search_docs": await client.call_tool("search_docs", {"query": QUERY, "collection": "team", "k": 5}),
            "ask": await client.call_tool("ask", {"question": QUERY, "collection": "team"}),
            "read_docs": await client.call_tool("read_file", {"repository": d.ids["docs"], "path": "guide1.md"}),
        }
        refused = {
            "read_secret": await client.call_tool("read_file", {"repository": d.ids["secret"], "path": "secret1.md"}),
            "job_status": await client.call_tool("job_status", {"job_id": d.jobs["secret"]}),
            "index_repository": await client.call_tool("index_repository", {"source": str(d.folders["docs"])}),
        }
    for name, result in answers.items():
        assert not result.is_error, (name, text_of(result))
        assert_shows_only_docs(d, text_of(result))
    assert d.ids["docs"] in text_of(answers["list_repositories"])
    assert text_of(answers["search_docs"]).count("guide") >= 5
    for name, result in refused.items():
        assert result.is_error, name
        assert SECRET_MARK not in text_of(result)
    assert "not indexed" in text_of(refused["read_secret"]) or "not found" in text_of(refused["read_secret"])
    assert "role" in text_of(refused["index_repository"])
    assert denials(d, "not_allowed") == refused_before + 1, "the tool the role does not allow is counted"

    async with mcp_client(d, "everything-reader") as client:
        read = await client.call_tool("read_file", {"repository": d.ids["secret"], "path": "secret1.md"})
        assert SECRET_MARK in text_of(read), "an unscoped key reads it: the scope is what hid it"


def test_the_log_names_each_caller_and_never_a_key(deployment: Deployment) -> None:
    d = deployment
    for who in d.keys:
        assert d.call(who, "GET", "/v1/jobs").status_code == 200
    assert httpx.get(f"{d.api.url}/v1/jobs", headers={"x-api-key": "rc_not-a-key-5555"}).status_code == 403
    log = (d.api.log).read_text()
    for key in [*d.keys.values(), "rc_not-a-key-5555"]:
        assert key not in log
    for name in ("key:reader", "key:indexer", "key:everything-reader", "key:REPOCHAT_API_KEYS#1"):
        assert f"caller={name} " in log, name
    assert "GET /v1/jobs 403 " in log


def test_a_revoked_key_is_refused_by_every_replica_within_seconds(
    tmp_path: Path, chroma_server: str, serve: ServeFactory
) -> None:
    """Two API replicas and the CLI on one Chroma server: the key is revoked through neither replica. Another
    team's key stays (a server with no key left at all would ask for none)."""
    env = repochat_env(tmp_path / "cli", REPOCHAT_CHROMA_URL=chroma_server)
    key = create_key(env, "revoked-team", "read")
    kept = create_key(env, "staying-team", "read")
    try:
        replicas = [
            serve(tmp_path / f"replica-{n}", REPOCHAT_CHROMA_URL=chroma_server, REPOCHAT_KEY_CACHE_SECONDS="2")
            for n in (1, 2)
        ]
        for replica in replicas:
            assert replica.client.get("/v1/jobs", headers={"authorization": f"Bearer {key}"}).status_code == 200
            assert replica.client.get("/v1/jobs").status_code == 401, "a stored key: the server asks for keys"

        revoked = repochat("keys", "revoke", "revoked-team", env=env)
        assert revoked.returncode == 0, revoked.stderr
        started = time.monotonic()
        for replica in replicas:
            wait_until(
                lambda r=replica: r.client.get("/v1/jobs", headers={"x-api-key": key}).status_code == 403,
                timeout=10,
                message="the revoked key refused",
            )
        assert time.monotonic() - started < 2 + 3, "within the cache time (2 s) and some slack"
        for replica in replicas:
            assert replica.client.get("/v1/jobs", headers={"x-api-key": kept}).status_code == 200
            assert replica.client.get("/v1/jobs").status_code == 401
        listed = repochat("keys", "list", env=env).stdout
        assert "revoked-team" not in listed and "staying-team" in listed

    finally:  # a key left on the shared Chroma server would make the other tests' servers ask for keys
        for name in ("revoked-team", "staying-team"):
            repochat("keys", "revoke", name, env=env)


@asynccontextmanager
async def mcp_client(d: Deployment, who: str) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers=d.headers(who), timeout=120) as http,
        Client(streamable_http_client(f"{d.api.url}/mcp", http_client=http)) as client,
    ):
        yield client


def denials(d: Deployment, reason: str) -> float:
    """repochat_access_denied_total{reason=...} of the server's /metrics."""
    line = f'repochat_access_denied_total{{reason="{reason}"}} '
    found = [row for row in httpx.get(f"{d.api.url}/metrics").text.splitlines() if row.startswith(line)]
    return float(found[0].removeprefix(line)) if found else 0.0


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def text_of(result: Any) -> str:
    return "\n".join(part.text for part in result.content if getattr(part, "text", None))
