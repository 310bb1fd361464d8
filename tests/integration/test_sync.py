"""Staying in sync, end to end: `repochat serve` against the GitHub-shaped test server backed by real git repositories.

Push webhooks signed (or not) as GitHub signs them, the in-process schedule on a short interval
(seconds, which only the in-process schedule allows), the sync status the API and the CLI show,
and what an unchanged repository costs GitHub per sync.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from domain.webhooks import signature_of
from tests.integration.fake_github import FakeGitHub
from tests.integration.helpers import ApiServer, ServeFactory, repochat, wait_until

SECRET = "webhook-s3cret"
FILES = {
    "README.md": "# Widgets\n\nA library of widgets.\n",
    "docs/setup.md": "# Setup\n\nInstall the widget with pip.\n",
    "docs/usage.md": "# Usage\n\nCall make_widget() to build one.\n",
}
NEW_SETUP = "# Setup\n\nInstall the widget with pip, then calibrate the flux capacitor of the quokka frobnicator.\n"


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[FakeGitHub]:
    with FakeGitHub(tmp_path / "git") as server:
        yield server


def push_payload(repository: str = "acme/widgets", ref: str = "refs/heads/main", **extra: Any) -> bytes:
    payload = {"ref": ref, "repository": {"full_name": repository, "default_branch": "main"}, **extra}
    return json.dumps(payload).encode()


def deliver(api: ApiServer, event: str, body: bytes, signature: str | None = "", delivery: str = "") -> Any:
    """A delivery as GitHub sends it; `signature` "" signs with SECRET, None sends no signature;
    `delivery` "" is a new delivery id."""
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "Content-Type": "application/json",
    }
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature or signature_of(SECRET, body)
    return api.client.post("/v1/webhooks/github", content=body, headers=headers)


def index(api: ApiServer, source: str, **body: Any) -> dict[str, Any]:
    response = api.client.post("/v1/repositories", json={"source": source, **body})
    assert response.status_code == 202, response.text
    job = api.wait_for_job(response.json()["job_id"])
    assert job["state"] == "succeeded", job
    return job


def repository(api: ApiServer, repository: str = "acme/widgets") -> dict[str, Any]:
    response = api.client.get(f"/v1/repositories/{repository}")
    assert response.status_code == 200, response.text
    entry: dict[str, Any] = response.json()["collections"][0]
    return entry


def job_ids(api: ApiServer) -> list[str]:
    return [job["id"] for job in api.client.get("/v1/jobs").json()["jobs"]]


def search_paths(api: ApiServer, query: str) -> list[str]:
    hits = api.client.post("/v1/search", json={"query": query, "k": 3}).json()["hits"]
    return [hit["path"] for hit in hits if "quokka" in hit["text"]]


def test_a_signed_push_resyncs_exactly_the_changed_file(gh: FakeGitHub, serve: ServeFactory) -> None:
    repo = gh.create_repo("acme", "widgets", FILES)
    api = serve(REPOCHAT_GITHUB_API_URL=gh.api_url, REPOCHAT_GITHUB_WEBHOOK_SECRET=SECRET)
    index(api, "acme/widgets")
    head = repo.commit("calibrate", {"docs/setup.md": NEW_SETUP})

    response = deliver(api, "push", push_payload(after=head))

    assert response.status_code == 202, response.text
    [queued] = response.json()["queued"]
    assert (queued["repository"], queued["collection"], queued["ref"]) == ("acme/widgets", "default", None)
    job = api.wait_for_job(queued["job_id"])
    assert job["state"] == "succeeded", job
    assert (job["result"]["files_indexed"], job["result"]["files_unchanged"], job["result"]["commit"]) == (1, 2, head)
    assert search_paths(api, "calibrate the flux capacitor of the quokka frobnicator") == ["docs/setup.md"]
    sync = repository(api)["sync"]
    assert (sync["last_result"], sync["last_trigger"], sync["last_job_id"]) == ("updated", "webhook", job["id"])
    assert sync["last_error"] is None and sync["next_sync_at"] is None  # no schedule on this server


def test_a_replayed_delivery_queues_one_sync(gh: FakeGitHub, serve: ServeFactory) -> None:
    repo = gh.create_repo("acme", "widgets", FILES)
    api = serve(REPOCHAT_GITHUB_API_URL=gh.api_url, REPOCHAT_GITHUB_WEBHOOK_SECRET=SECRET)
    index(api, "acme/widgets")
    head = repo.commit("calibrate", {"docs/setup.md": NEW_SETUP})
    jobs = job_ids(api)

    first = deliver(api, "push", push_payload(after=head), delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    [queued] = first.json()["queued"]
    assert api.wait_for_job(queued["job_id"])["state"] == "succeeded"
    for _ in range(3):
        replay = deliver(api, "push", push_payload(after=head), delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
        assert replay.status_code == 200 and replay.json()["queued"] == [], replay.text
        assert "was handled at" in replay.json()["message"]
    assert job_ids(api) == [queued["job_id"], *jobs]


def test_deliveries_that_are_not_a_signed_push_to_an_indexed_ref_change_nothing(
    gh: FakeGitHub, serve: ServeFactory
) -> None:
    repo = gh.create_repo("acme", "widgets", FILES)
    api = serve(REPOCHAT_GITHUB_API_URL=gh.api_url, REPOCHAT_GITHUB_WEBHOOK_SECRET=SECRET)
    first = index(api, "acme/widgets")
    repo.commit("calibrate", {"docs/setup.md": NEW_SETUP})
    jobs = job_ids(api)

    body = push_payload()
    for signature in (None, signature_of("another secret", body), "sha256=" + "0" * 64):
        refused = deliver(api, "push", body, signature)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthenticated", refused.text
    tampered = deliver(api, "push", body, signature_of(SECRET, push_payload(ref="refs/heads/dev")))
    assert tampered.status_code == 401

    ping = deliver(api, "ping", b'{"zen": "Half measures are as bad as nothing at all.", "hook_id": 7}')
    assert ping.status_code == 200 and ping.json()["message"].startswith("pong")
    for event, payload in (("issues", b'{"action": "opened"}'), ("push", push_payload(ref="refs/heads/dev"))):
        answer = deliver(api, event, payload)
        assert answer.status_code == 202 and answer.json()["queued"] == [], answer.text
        assert "nothing" in answer.json()["message"]
    gone = deliver(api, "push", push_payload(deleted=True))
    assert gone.status_code == 202 and gone.json()["queued"] == []

    assert job_ids(api) == jobs
    assert repository(api)["commit"] == first["result"]["commit"]
    assert search_paths(api, "calibrate the flux capacitor of the quokka frobnicator") == []


def test_an_unchanged_repository_costs_at_most_two_github_requests_per_sync(
    gh: FakeGitHub, serve: ServeFactory
) -> None:
    """The default branch: the repository (for its name) and the commit (304 on its ETag); a named ref: the commit."""
    gh.create_repo("acme", "widgets", FILES)
    gh.create_repo("acme", "gadgets", FILES).tag("v1.0")
    api = serve(REPOCHAT_GITHUB_API_URL=gh.api_url, REPOCHAT_GITHUB_WEBHOOK_SECRET=SECRET)
    index(api, "acme/widgets")
    index(api, "github:acme/gadgets@v1.0")

    for name, ref, requests in (("widgets", "refs/heads/main", 2), ("gadgets", "refs/tags/v1.0", 1)):
        gh.forget_requests()
        [queued] = deliver(api, "push", push_payload(f"acme/{name}", ref)).json()["queued"]
        job = api.wait_for_job(queued["job_id"])
        assert job["result"]["files_unchanged"] == 3 and job["result"]["embedding_calls"] == 0, job
        assert len(gh.requests) == requests, gh.paths()
        assert gh.requests[-1].status == 304
        assert repository(api, f"acme/{name}")["sync"]["last_result"] == "unchanged"


def test_the_schedule_picks_up_a_new_commit_and_unchanged_syncs_stay_cheap(gh: FakeGitHub, serve: ServeFactory) -> None:
    repo = gh.create_repo("acme", "widgets", FILES)
    api = serve(REPOCHAT_GITHUB_API_URL=gh.api_url, REPOCHAT_SYNC_INTERVAL="1s")
    index(api, "acme/widgets")
    head = repo.commit("calibrate", {"docs/setup.md": NEW_SETUP})

    assert deliver(api, "push", push_payload()).status_code == 404  # no webhook secret: the route is off
    wait_until(lambda: repository(api)["commit"] == head, 60, "the new commit synced")
    assert search_paths(api, "calibrate the flux capacitor of the quokka frobnicator") == ["docs/setup.md"]
    sync = repository(api)["sync"]
    assert sync["last_trigger"] == "schedule" and sync["last_error"] is None
    assert datetime.fromisoformat(sync["next_sync_at"]) > datetime.fromisoformat(sync["last_attempt_at"])

    gh.forget_requests()
    jobs = len(job_ids(api))
    wait_until(lambda: len(job_ids(api)) >= jobs + 2, 30, "two more scheduled syncs")
    wait_until(lambda: repository(api)["sync"]["last_result"] == "unchanged", 30, "an unchanged sync")
    # Each unchanged sync asks for the repository (its default branch) and the commit, which is a 304.
    asked = {(r.path, r.status) for r in gh.requests}
    assert asked <= {("/repos/acme/widgets", 200), ("/repos/acme/widgets/commits/main", 304)}, gh.paths()


def test_a_failing_repository_backs_off_and_its_status_says_why(
    gh: FakeGitHub, serve: ServeFactory, tmp_path: Path
) -> None:
    gh.create_repo("acme", "widgets", FILES)
    api = serve(tmp_path / "data", REPOCHAT_GITHUB_API_URL=gh.api_url, REPOCHAT_SYNC_INTERVAL="1s")
    first = index(api, "acme/widgets")
    del gh.repos[("acme", "widgets")]  # the repository is gone (or the token lost access)

    def failed_thrice() -> dict[str, Any]:
        sync: dict[str, Any] = repository(api)["sync"]
        return sync if sync["consecutive_failures"] >= 3 and not sync["syncing_job_id"] else {}

    sync = wait_until(failed_thrice, 60, "three failed syncs in a row")
    assert sync["last_result"] == "failed" and "not found or no access" in sync["last_error"], sync
    attempted, next_sync = (datetime.fromisoformat(sync[k]) for k in ("last_attempt_at", "next_sync_at"))
    failures = sync["consecutive_failures"]
    assert (next_sync - attempted).total_seconds() >= 2**failures - 1  # backoff: 2^failures intervals, less slack
    assert repository(api)["commit"] == first["result"]["commit"]  # the indexed version stays

    api.close()  # the CLI reads what the server left in the data folder
    env = api.env
    listed = json.loads(repochat("repos", "--json", env=env).stdout)["repositories"][0]["sync"]
    assert listed["last_result"] == "failed" and listed["consecutive_failures"] >= failures
    text = repochat("repos", env=env).stdout
    assert "last sync" in text and "failed" in text and "next sync" in text
    assert "last error: " in text and "not found or no access" in text
