"""schemathesis against `repochat serve` over HTTP on loopback: what /openapi.json says is what the app does.

Every operation gets requests generated from its schema (valid ones and, in schemathesis's coverage
phase, near-misses), bounded in examples and time; each answer must be no server error, a declared
status, a declared content type and headers, and a body that matches the declared schema. The server
is the embedded default (hashing embeddings, the extractive answer, the in-process queue) with one
small folder indexed, so search and ask have something to answer; GitHub is a port nothing listens
on, so the index jobs fuzzing queues fail fast instead of reaching the internet.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.integration.helpers import BIN, ApiServer, free_port, repochat_env

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
MAX_EXAMPLES = 40
MAX_SECONDS = 150


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    root = tmp_path_factory.mktemp("schema-fuzz")
    (root / "docs").mkdir()
    (root / "docs" / "guide.md").write_text("# Guide\n\nSet the timeout option to None to wait forever.\n")
    env = repochat_env(
        root / "data",
        REPOCHAT_LOCAL_ROOTS=str(root),
        REPOCHAT_LLM="extractive",
        REPOCHAT_GITHUB_API_URL=f"http://127.0.0.1:{free_port()}",
    )
    api = ApiServer(env, root / "serve.log", cwd=root)
    try:
        api.wait_ready("/readyz")
        accepted = api.client.post("/v1/repositories", json={"source": str(root / "docs")})
        assert api.wait_for_job(accepted.json()["job_id"])["state"] == "succeeded", api.output()
        yield api
    finally:
        api.close()


def test_every_answer_is_declared_and_none_is_a_server_error(server: ApiServer) -> None:
    """schemathesis's own runner (its CLI): examples, coverage and fuzzing phases, one worker, a time budget."""
    command = [str(BIN / "schemathesis"), "run", f"{server.url}/openapi.json", "--checks", ",".join(CHECKS),
               "--max-examples", str(MAX_EXAMPLES), "--max-time", str(MAX_SECONDS), "--workers", "1",
               "--phases", "examples,coverage,fuzzing", "--request-timeout", "30", "--seed", "13",
               "--generation-database", "none", "--suppress-health-check", "all"]  # fmt: skip

    run = subprocess.run(command, capture_output=True, text=True, timeout=MAX_SECONDS + 120)

    assert run.returncode == 0, f"{run.stdout[-20000:]}\n{run.stderr[-4000:]}\n{server.output()}"
