"""docker-compose.yml is valid for Docker Compose and describes the scaled-out stack.

No Docker engine runs here, but `docker compose config` (the plugin is installed by
scripts/install-compose.sh) parses, validates and normalises the file as `up` would.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import unavailable

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    try:
        result = subprocess.run(
            ["docker", "compose", "-f", "docker-compose.yml", "config", "--format", "json"],
            cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, "OPENAI_API_KEY": ""},
        )  # fmt: skip
    except FileNotFoundError:
        result = None
    if result is None or "unknown command" in result.stderr or "is not a docker command" in result.stderr:
        message = "docker compose is not installed: run scripts/install-compose.sh"
        unavailable(message)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def test_every_service_of_the_stack_is_there(stack: dict[str, Any]) -> None:
    assert set(stack["services"]) == {"postgres", "hatchet-lite", "hatchet-token", "chroma", "api", "worker"}
    assert set(stack["volumes"]) >= {"hatchet_postgres", "hatchet_config", "hatchet_tokens", "chroma_data"}


def test_long_running_services_have_health_checks(stack: dict[str, Any]) -> None:
    for name in ("postgres", "hatchet-lite", "chroma", "api"):
        assert stack["services"][name]["healthcheck"]["test"], name


def test_api_and_workers_share_chroma_and_hatchet(stack: dict[str, Any]) -> None:
    for name in ("api", "worker"):
        service = stack["services"][name]
        assert service["build"]["context"] == str(ROOT)
        env = service["environment"]
        assert env["REPOCHAT_JOB_QUEUE"] == "hatchet"
        assert env["REPOCHAT_CHROMA_URL"] == "http://chroma:8000"
        assert env["HATCHET_CLIENT_HOST_PORT"] == "hatchet-lite:7077"
        assert service["depends_on"]["chroma"]["condition"] == "service_healthy"
        assert service["depends_on"]["hatchet-token"]["condition"] == "service_completed_successfully"
    worker = stack["services"]["worker"]
    assert worker["command"] == ["repochat", "worker"]
    # `docker compose up --scale worker=4` needs replicas without a fixed name or published port.
    assert "ports" not in worker and "container_name" not in worker
