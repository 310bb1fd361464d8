"""The `repochat` command as a user runs it, in subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.fake_github import FakeGitHub
from tests.integration.helpers import ServeFactory, repochat, repochat_env


def test_index_then_search_the_fastapi_docs(tmp_path: Path, corpus: Path) -> None:
    env = repochat_env(tmp_path / "data")
    indexed = repochat("index", str(corpus), "--json", env=env)
    assert indexed.returncode == 0, indexed.stderr
    job = json.loads(indexed.stdout)
    assert job["state"] == "succeeded" and job["result"]["files_indexed"] > 100
    assert set(job) >= {"id", "repository", "state", "stage", "progress", "result", "error"}

    found = repochat("search", "how do I declare an optional query parameter", "--json", env=env)
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)["hits"]
    assert any(h["path"] == "tutorial/query-params.md" for h in hits[:5]), [h["path"] for h in hits]
    assert all(1 <= h["start_line"] <= h["end_line"] for h in hits)

    again = repochat("index", str(corpus), "--json", env=env)
    result = json.loads(again.stdout)["result"]
    assert result["embedding_calls"] == 0 and result["files_unchanged"] == job["result"]["files_indexed"]

    listed = json.loads(repochat("repos", "--json", env=env).stdout)["repositories"]
    assert [r["id"] for r in listed] == [f"local:{corpus.resolve()}"]
    shown = json.loads(repochat("jobs", job["id"], "--json", env=env).stdout)
    assert shown["id"] == job["id"] and shown["state"] == "succeeded"

    answer = repochat("ask", "how do I declare an optional query parameter", env=env)
    assert answer.returncode == 0 and "Sources:" in answer.stdout and "#L" in answer.stdout

    assert repochat("forget", listed[0]["id"], env=env).returncode == 0
    assert json.loads(repochat("repos", "--json", env=env).stdout)["repositories"] == []


def test_bad_input_exits_with_a_message_and_no_traceback(tmp_path: Path) -> None:
    env = repochat_env(tmp_path / "data")
    cases = [
        (("index", str(tmp_path / "missing")), 2, "does not exist"),
        (("index", "https://gitlab.com/a/b"), 2, "accepted forms"),
        (("jobs", "no-such-job"), 3, "no job"),
        (("search", "   "), 2, "empty"),
        (("ask", ""), 2, "empty"),
        (("search", "x", "--collection", "no"), 2, "invalid collection"),
        (("search", "é" * 8193), 2, "the query is 16386 bytes, over the limit of 16384 (REPOCHAT_MAX_QUESTION_BYTES)"),
        (("ask", "é" * 8193), 2, "the question is 16386 bytes, over the limit of 16384 (REPOCHAT_MAX_QUESTION_BYTES)"),
        (("forget", "owner/none"), 3, "not indexed"),
        (("eval", str(tmp_path / "none.jsonl")), 2, "does not exist"),
    ]
    for args, code, message in cases:
        result = repochat(*args, env=env)
        assert result.returncode == code, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr


def test_a_second_process_on_the_same_data_folder_is_refused_clearly(
    tmp_path: Path, serve: ServeFactory, corpus: Path
) -> None:
    server = serve(tmp_path / "data")
    result = repochat("index", str(corpus / "tutorial"), env=server.env)
    assert result.returncode == 4
    assert "in use by repochat serve" in result.stderr and "HTTP API" in result.stderr


def test_eval_reports_hit_rate_and_mrr(tmp_path: Path, corpus: Path) -> None:
    env = repochat_env(tmp_path / "data")
    assert repochat("index", str(corpus / "tutorial"), env=env).returncode == 0
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        json.dumps({"question": "optional query parameters with default None", "gold": ["query-params.md"]})
        + "\n"
        + json.dumps({"question": "upload files with UploadFile", "gold": ["request-files.md"]})
        + "\n"
    )
    result = repochat("eval", str(qa), "-k", "5", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["cases"] == 2 and report["k"] == 5
    assert 0.5 <= report["hit_at_k"] <= 1 and report["mrr"] > 0
    assert 0 <= report["hit_at_1"] <= report["hit_at_k"] and 0 < report["ndcg"] <= 1


def test_the_default_offline_model_finds_the_optional_query_parameter_docs(tmp_path: Path, corpus: Path) -> None:
    """The embedded default end to end: the real offline model, on the tutorial's parameter pages."""
    env = repochat_env(tmp_path / "data", REPOCHAT_EMBEDDINGS="local")
    pages = ["--include", "tutorial/*param*.md", "--include", "tutorial/body*.md"]
    indexed = repochat("index", str(corpus), *pages, "--json", env=env)
    assert indexed.returncode == 0, indexed.stderr
    assert json.loads(indexed.stdout)["result"]["files_indexed"] >= 8

    found = repochat("search", "how do I declare an optional query parameter", "--json", "-k", "3", env=env)
    hits = json.loads(found.stdout)["hits"]
    assert hits[0]["path"] == "tutorial/query-params.md", [h["path"] for h in hits]
    assert hits[0]["start_line"] <= hits[0]["end_line"]


def test_refs_side_by_side_are_listed_searched_and_forgotten_one_at_a_time(tmp_path: Path) -> None:
    with FakeGitHub(tmp_path / "git") as gh:
        repo = gh.create_repo("acme", "widgets", {"docs/setup.md": "# Setup\n\nInstall with easy_install.\n"})
        repo.tag("v1")
        head = repo.commit("v2", {"docs/setup.md": "# Setup\n\nInstall with pip.\n"})
        env = repochat_env(tmp_path / "data", REPOCHAT_GITHUB_API_URL=gh.api_url)
        for ref in ((), ("--ref", "v1")):
            done = repochat("index", "acme/widgets", *ref, env=env)
            assert done.returncode == 0, done.stderr
    old = repo.head("v1")

    listed = repochat("repos", env=env).stdout.splitlines()
    assert listed == [
        f"acme/widgets @ default branch  [default]  at {head[:12]}, 1 files, 1 chunks  (searched by default)",
        f"acme/widgets @ v1  [default]  at {old[:12]}, 1 files, 1 chunks",
    ]
    found = repochat("search", "install", "--repository", "acme/widgets", "--ref", "v1", "--json", env=env)
    assert [h["commit"] for h in json.loads(found.stdout)["hits"]] == [old]
    missing = repochat("search", "install", "--ref", "v9", env=env)
    assert missing.returncode == 3 and "indexed: the default branch, v1" in missing.stderr

    forgot = repochat("forget", "acme/widgets", "--ref", "v1", env=env)
    assert forgot.returncode == 0 and forgot.stdout == "forgot acme/widgets at v1 in collection default\n"
    remaining = json.loads(repochat("repos", "--json", env=env).stdout)["repositories"]
    assert [(r["ref"], r["commit"], r["searched_by_default"]) for r in remaining] == [(None, head, True)]


def test_key_commands_exit_with_the_cli_s_codes_and_beside_a_server_say_how_to_reach_its_keys(
    tmp_path: Path, serve: ServeFactory
) -> None:
    env = repochat_env(tmp_path / "data")
    for args, code, message in [
        (("keys", "revoke", "nobody"), 3, "no key is named 'nobody'"),
        (("keys", "create", "two words", "--role", "read"), 2, "invalid key name"),
    ]:
        result = repochat(*args, env=env)
        assert result.returncode == code and message in result.stderr, result.stderr

    server = serve(tmp_path / "data")
    busy = repochat("keys", "list", env=server.env)
    assert busy.returncode == 4 and "/v1/keys" in busy.stderr and "Traceback" not in busy.stderr
