"""The real CLI and API indexing repositories served by a local server speaking GitHub's REST shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.fake_github import FakeGitHub
from tests.integration.helpers import ServeFactory, repochat, repochat_env

TOKEN = "ghp_e2eSecretToken0123456789"
SETUP = "# Setup\n\nInstall the widget with pip, then call configure_widget() once.\n"


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[FakeGitHub]:
    with FakeGitHub(tmp_path / "git") as server:
        yield server


def test_cli_indexes_a_repository_cites_its_commit_and_resyncs_cheaply(tmp_path: Path, gh: FakeGitHub) -> None:
    repo = gh.create_repo("acme", "widgets", {"README.md": "# Widgets\n\nA library.\n", "docs/setup.md": SETUP})
    env = repochat_env(tmp_path / "data", REPOCHAT_GITHUB_API_URL=gh.api_url)

    indexed = repochat("index", "acme/widgets", "--json", env=env)
    assert indexed.returncode == 0, indexed.stderr
    job = json.loads(indexed.stdout)
    assert job["state"] == "succeeded" and job["result"]["files_indexed"] == 2
    assert job["repository"] == "acme/widgets" and job["result"]["commit"] == repo.head()

    hits = json.loads(repochat("search", "install the widget with pip", "--json", env=env).stdout)["hits"]
    assert hits[0]["path"] == "docs/setup.md"
    assert hits[0]["url"] == f"https://github.com/acme/widgets/blob/{repo.head()}/docs/setup.md#L1-L3"

    gh.forget_requests()
    again = json.loads(repochat("index", "github:acme/widgets", "--json", env=env).stdout)
    assert again["result"]["embedding_calls"] == 0 and again["result"]["files_unchanged"] == 2
    assert len(gh.paths()) <= 2


def test_api_indexes_a_private_repository_only_with_a_token_that_it_never_shows(
    tmp_path: Path, gh: FakeGitHub, serve: ServeFactory
) -> None:
    gh.create_repo("acme", "secret", {"docs/setup.md": SETUP})
    gh.hosted("acme", "secret").private = True
    gh.tokens.add(TOKEN)
    body = {"source": "https://github.com/acme/secret/tree/main"}

    without = serve(tmp_path / "without", REPOCHAT_GITHUB_API_URL=gh.api_url)
    failed = without.wait_for_job(without.client.post("/v1/repositories", json=body).json()["job_id"])
    assert failed["state"] == "failed"
    assert "not found or no access" in str(failed["error"]) and "GITHUB_TOKEN" in str(failed["error"])

    server = serve(tmp_path / "with", REPOCHAT_GITHUB_API_URL=gh.api_url, GITHUB_TOKEN=TOKEN)
    job = server.wait_for_job(server.client.post("/v1/repositories", json=body).json()["job_id"])
    assert job["state"] == "succeeded", job
    hits = server.client.post("/v1/search", json={"query": "configure_widget"}).json()["hits"]
    assert hits[0]["repository"] == "acme/secret" and hits[0]["url"].startswith("https://github.com/acme/secret/blob/")

    shown = server.client.get("/v1/jobs").text + json.dumps(job) + server.client.get("/v1/repositories").text
    assert TOKEN not in shown
    assert TOKEN not in server.log.read_text()
    assert TOKEN not in (tmp_path / "with" / "jobs.sqlite3").read_bytes().decode("utf-8", "replace")


def test_api_rejects_a_source_it_cannot_understand(serve: ServeFactory) -> None:
    response = serve().client.post("/v1/repositories", json={"source": "https://gitlab.com/acme/widgets"})
    assert response.status_code == 400
    assert "accepted forms" in response.json()["error"]["message"]
