"""The real API over HTTP: `repochat serve` on loopback with embedded Chroma and the in-process queue."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from tests.integration.fake_github import FakeGitHub
from tests.integration.helpers import ApiServer, ServeFactory, sse_events, wait_until

SETUP_V1 = "# Setup\n\nInstall the widget with easy_install, then call configure_widget() once.\n"
SETUP_V2 = "# Setup\n\nInstall the widget with pip, then call configure_widget() once.\n"


def index(server: ApiServer, source: Path | str, **body: object) -> dict[str, Any]:
    response = server.client.post("/v1/repositories", json={"source": str(source), **body})
    assert response.status_code == 202, response.text
    return server.wait_for_job(response.json()["job_id"])


def test_index_search_and_ask_over_http(serve: ServeFactory, corpus: Path, local_roots: str) -> None:
    server = serve(REPOCHAT_LOCAL_ROOTS=local_roots)
    job = index(server, corpus / "tutorial", include=["query-params*.md", "path-params.md"])
    assert job["state"] == "succeeded", job
    result = job["result"]
    assert isinstance(result, dict) and result["files_indexed"] == 3 and result["chunks_written"] > 0
    assert set(job["progress"]) == {"files_total", "files_done", "chunks_written"}

    hits = server.client.post("/v1/search", json={"query": "optional query parameters", "k": 3}).json()["hits"]
    assert len(hits) == 3
    assert set(hits[0]) == {
        "text", "path", "repository", "commit", "start_line", "end_line", "url", "score", "similarity", "keyword_score"
    }  # fmt: skip
    assert hits[0]["path"].startswith("query-params") and hits[0]["url"].startswith("file://")

    answer = server.client.post("/v1/ask", json={"question": "How do I make a query parameter optional?"}).json()
    assert answer["generated"] is False and answer["citations"]
    assert answer["citations"][0]["path"] in answer["answer"]

    streamed = server.client.post("/v1/ask", json={"question": "optional query parameters", "stream": True})
    assert streamed.headers["content-type"].startswith("text/event-stream")
    names = [name for name, _ in sse_events(streamed.text)]
    assert names[-2:] == ["citations", "done"] and set(names[:-2]) == {"token"}

    repos = server.client.get("/v1/repositories").json()["repositories"]
    assert [r["files"] for r in repos] == [3]
    repo_id = repos[0]["id"]
    assert server.client.get(f"/v1/repositories/{repo_id}").status_code == 200
    assert server.client.delete(f"/v1/repositories/{repo_id}").status_code == 200
    assert server.client.post("/v1/search", json={"query": "optional query"}).json()["hits"] == []
    assert server.client.get(f"/v1/repositories/{repo_id}").status_code == 404


def test_bad_input_gets_json_errors_with_fitting_statuses(
    serve: ServeFactory, tmp_path: Path, local_roots: str
) -> None:
    client = serve(REPOCHAT_LOCAL_ROOTS=local_roots).client
    cases = [
        (client.post("/v1/search", content=b"{not json", headers={"content-type": "application/json"}), 422),
        (client.post("/v1/search", json={"query": "x", "k": 0}), 422),
        (client.post("/v1/search", json={"query": "  "}), 422),
        (client.post("/v1/ask", json={"question": ""}), 422),
        (client.post("/v1/ask", json={"question": "", "stream": True}), 422),
        (client.post("/v1/search", json={"query": "x", "collection": "a"}), 400),
        (client.post("/v1/repositories", json={"source": "not a source!"}), 400),
        (client.post("/v1/repositories", json={"source": str(tmp_path / "missing")}), 400),
        (client.post("/v1/repositories", json={"source": str(tmp_path), "collection": "x/y"}), 400),
        (client.get("/v1/jobs/no-such-job"), 404),
        (client.delete("/v1/jobs/no-such-job"), 404),
        (client.get("/v1/nowhere"), 404),
    ]
    for response, status in cases:
        assert response.status_code == status, (response.request.url, response.text)
        error = response.json()["error"]
        assert error["code"] and error["message"]


def test_api_keys_are_required_when_configured(serve: ServeFactory) -> None:
    server = serve(REPOCHAT_API_KEYS="alpha, beta")
    assert server.client.get("/v1/jobs").status_code == 401
    assert server.client.get("/v1/jobs", headers={"authorization": "Bearer gamma"}).status_code == 403
    assert server.client.get("/v1/jobs", headers={"authorization": "Bearer beta"}).status_code == 200
    assert server.client.get("/v1/jobs", headers={"x-api-key": "alpha"}).status_code == 200
    assert server.client.get("/healthz").status_code == 200


def test_readiness_and_metrics(serve: ServeFactory) -> None:
    client = serve().client
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"vector_store": "ok", "job_queue": "ok", "disk": "ok"}
    client.get("/v1/jobs")
    metrics = client.get("/metrics").text
    assert 'repochat_http_requests_total{method="GET",route="/v1/jobs",status="200"}' in metrics


def test_a_killed_server_resumes_its_job_and_ends_with_the_same_chunks(
    serve: ServeFactory, corpus: Path, tmp_path: Path, local_roots: str
) -> None:
    undisturbed = serve(tmp_path / "undisturbed", REPOCHAT_LOCAL_ROOTS=local_roots)
    whole = index(undisturbed, corpus)
    assert whole["state"] == "succeeded"
    expected = undisturbed.client.get("/v1/repositories").json()["repositories"][0]

    data = tmp_path / "killed"
    victim = serve(data, REPOCHAT_LOCAL_ROOTS=local_roots)
    job_id = victim.client.post("/v1/repositories", json={"source": str(corpus)}).json()["job_id"]

    def indexed_some() -> bool:
        return bool(victim.client.get(f"/v1/jobs/{job_id}").json()["progress"]["files_done"] > 0)

    wait_until(indexed_some, 60, "the job indexing its first files", interval=0.05)
    victim.stop(signal.SIGKILL)

    restarted = serve(data, REPOCHAT_LOCAL_ROOTS=local_roots)
    job = restarted.wait_for_job(job_id)
    assert job["state"] == "succeeded", job
    repo = restarted.client.get("/v1/repositories").json()["repositories"][0]
    assert (repo["files"], repo["chunks"], repo["commit"]) == (
        expected["files"],
        expected["chunks"],
        expected["commit"],
    )
    result = job["result"]
    # What both runs wrote: the chunks the killed run stored count as the job's.
    assert isinstance(result, dict) and result["chunks_written"] == expected["chunks"]
    assert result["files_indexed"] == whole["result"]["files_indexed"]


def test_two_refs_of_a_repository_are_searched_apart_and_forgotten_one_at_a_time(
    serve: ServeFactory, tmp_path: Path
) -> None:
    with FakeGitHub(tmp_path / "git") as gh:
        repo = gh.create_repo("acme", "widgets", {"docs/setup.md": SETUP_V1})
        repo.tag("v1")
        head = repo.commit("v2", {"docs/setup.md": SETUP_V2})
        server = serve(REPOCHAT_GITHUB_API_URL=gh.api_url)
        assert index(server, "acme/widgets")["state"] == "succeeded"
        assert index(server, "acme/widgets", ref="v1")["state"] == "succeeded"
    old = repo.head("v1")

    listed = server.client.get("/v1/repositories").json()["repositories"]
    assert sorted((r["ref"] or "", r["commit"], r["searched_by_default"]) for r in listed) == [
        ("", head, True),
        ("v1", old, False),
    ]

    def search(**filters: str) -> list[dict[str, Any]]:
        response = server.client.post("/v1/search", json={"query": "install the widget", "filters": filters})
        assert response.status_code == 200, response.text
        return list(response.json()["hits"])

    assert {h["commit"] for h in search()} == {head} and "pip" in search()[0]["text"]
    assert {h["commit"] for h in search(ref="v1")} == {old} and "easy_install" in search(ref="v1")[0]["text"]
    assert {h["commit"] for h in search(ref=old[:7], repository="acme/widgets")} == {old}  # a SHA prefix
    assert {h["commit"] for h in search(ref="HEAD")} == {head}

    for path, body in (
        ("/v1/search", {"query": "install", "filters": {"ref": "v9"}}),
        ("/v1/ask", {"question": "How do I install it?", "filters": {"ref": "v9"}}),
        ("/v1/ask", {"question": "How do I install it?", "filters": {"ref": "v9"}, "stream": True}),
    ):
        missing = server.client.post(path, json=body)
        assert missing.status_code == 404, (path, body, missing.text)
        error = missing.json()["error"]
        assert error["code"] == "not_found" and "indexed: the default branch, v1" in error["message"], error

    forgotten = server.client.delete("/v1/repositories/acme/widgets", params={"ref": "v1"})
    assert forgotten.status_code == 200, forgotten.text
    assert [(r["ref"], r["commit"]) for r in forgotten.json()["forgotten"]] == [("v1", old)]
    assert [r["ref"] for r in server.client.get("/v1/repositories").json()["repositories"]] == [None]
    assert {h["commit"] for h in search()} == {head}
    assert server.client.post("/v1/search", json={"query": "install", "filters": {"ref": "v1"}}).status_code == 404


def test_a_question_over_the_limit_is_refused_alike_by_every_route(serve: ServeFactory) -> None:
    """The limit is the use cases' own (domain/limits.py): the message is the one MCP and the CLI give."""
    client = serve(REPOCHAT_MAX_QUESTION_BYTES="10").client
    chat = {"model": "repochat", "messages": [{"role": "user", "content": "x" * 11}]}
    for path, body in (("/v1/ask", {"question": "é" * 6}), ("/v1/search", {"query": "x" * 11}),
                       ("/v1/chat/completions", chat)):  # fmt: skip
        response = client.post(path, json=body)
        assert response.status_code == 400, (path, response.text)
        message = response.json()["error"]["message"]
        assert "over the limit of 10 (REPOCHAT_MAX_QUESTION_BYTES)" in message, (path, message)
