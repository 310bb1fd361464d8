"""schemathesis against `repochat serve` over HTTP on loopback: what /openapi.json says is what the app does.

Every check schemathesis has (`--checks all`) runs in all its phases: coverage (near-misses of each
schema), fuzzing (valid and invalid requests generated from it) and stateful (sequences following the
OpenAPI links, such as POST /v1/repositories → GET /v1/jobs/{job_id} → DELETE /v1/jobs/{job_id}). So
each answer must be no server error, of a declared status, content type, headers and body; a request
the schema allows must be accepted and one it forbids refused; a method a path does not take must be
a 405 whose Allow lists the methods it does; and the API key must be enforced (none, a wrong one).
tests/integration/schemathesis.toml gives the API key and says where the document alone cannot (a 400
for input of valid shape but invalid meaning, such as a ref git refuses).

One check is left out: `use_after_free`, which expects a resource to be gone after its DELETE. Neither
DELETE of the API does that, and both say so: DELETE /v1/jobs/{job_id} cancels (the job stays readable),
DELETE /v1/repositories/{repository} may forget one ref or collection of several, and POST
/v1/repositories indexes the same id again.

Bounds: MAX_EXAMPLES per operation and phase, and MAX_SECONDS for the whole run (fuzzing and stateful
testing repeat until it is spent), with a fixed seed; about two and a half minutes with the server's
start. The server is the embedded default (hashing embeddings, the extractive answer, the in-process
queue) with API keys and one small folder indexed, so search and ask have something to answer; GitHub is
a port nothing listens on, so the index jobs fuzzing queues fail fast instead of reaching the internet.
Without schemathesis installed the test is skipped, or failed on CI.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.helpers import BIN, ApiServer, free_port, repochat_env, unavailable

API_KEY = "schema-fuzz-key"
CONFIG = Path(__file__).with_name("schemathesis.toml")
MAX_EXAMPLES = 30
MAX_SECONDS = 90


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    root = tmp_path_factory.mktemp("schema-fuzz")
    (root / "docs").mkdir()
    (root / "docs" / "guide.md").write_text("# Guide\n\nSet the timeout option to None to wait forever.\n")
    env = repochat_env(
        root / "data",
        REPOCHAT_LOCAL_ROOTS=str(root),
        REPOCHAT_LLM="extractive",
        REPOCHAT_API_KEYS=API_KEY,
        REPOCHAT_GITHUB_API_URL=f"http://127.0.0.1:{free_port()}",
    )
    api = ApiServer(env, root / "serve.log", cwd=root)
    api.client.headers["X-API-Key"] = API_KEY
    try:
        api.wait_ready("/readyz")
        accepted = api.client.post("/v1/repositories", json={"source": str(root / "docs")})
        assert api.wait_for_job(accepted.json()["job_id"])["state"] == "succeeded", api.output()
        yield api
    finally:
        api.close()


def test_every_answer_is_declared_and_every_check_passes(server: ApiServer) -> None:
    """schemathesis's own runner (its CLI): coverage, fuzzing and stateful phases, one worker, a time budget."""
    schemathesis = BIN / "schemathesis"
    if not schemathesis.exists():
        unavailable(f"{schemathesis} is missing: pip install -e '.[dev]'")
    command = [str(schemathesis), "--config-file", str(CONFIG), "run", f"{server.url}/openapi.json",
               "--checks", "all", "--exclude-checks", "use_after_free",
               "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", str(MAX_EXAMPLES),
               "--max-time", str(MAX_SECONDS), "--workers", "1", "--request-timeout", "30", "--seed", "13",
               "--generation-database", "none", "--suppress-health-check", "all"]  # fmt: skip
    env = server.env | {"REPOCHAT_SCHEMA_FUZZ_KEY": API_KEY}

    run = subprocess.run(command, capture_output=True, text=True, timeout=MAX_SECONDS + 120, env=env)

    assert run.returncode == 0, f"{run.stdout[-20000:]}\n{run.stderr[-4000:]}\n{server.output()}"
