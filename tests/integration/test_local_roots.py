"""What a remote caller of `repochat serve` may index from the server's disk: only REPOCHAT_LOCAL_ROOTS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client

from tests.integration.helpers import ApiServer, ServeFactory

GUIDE = "# Guide\n\nThe heron flies south in winter.\n"
SECRET = "# Secret\n\nThe password is swordfish.\n"


@pytest.fixture
def disk(tmp_path: Path) -> Path:
    """tmp/srv/docs (the root, holding guide/ and a link out), tmp/srv/docs2 and tmp/srv/secret beside it."""
    srv = tmp_path / "srv"
    for folder, text in (("docs/guide", GUIDE), ("docs2", SECRET), ("secret", SECRET)):
        (srv / folder).mkdir(parents=True)
        (srv / folder / "index.md").write_text(text)
    (srv / "docs" / "guide" / ".env").write_text("TOKEN=swordfish\n")
    (srv / "docs" / "escape").symlink_to(srv / "secret")
    return srv


def refusal(server: ApiServer, **body: Any) -> str:
    response = server.client.post("/v1/repositories", json=body)
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "not_allowed"
    return str(error["message"])


def test_without_roots_the_api_refuses_every_local_folder_and_says_how_to_allow_them(
    serve: ServeFactory, disk: Path
) -> None:
    server = serve()
    for source in (str(disk / "docs"), ".", "..", "./docs"):
        assert "set REPOCHAT_LOCAL_ROOTS" in refusal(server, source=source)
    assert server.client.get("/v1/repositories").json()["repositories"] == []


def test_with_roots_only_folders_inside_them_are_indexed(serve: ServeFactory, disk: Path) -> None:
    server = serve(REPOCHAT_LOCAL_ROOTS=str(disk / "docs"))
    outside = ("/etc", "..", "../../etc", "../secret", str(disk / "docs2"), str(disk / "docs" / "escape"))
    for source in outside:
        assert "outside the folders this server may index" in refusal(server, source=source)
    assert "REPOCHAT_LOCAL_ALLOW_ANY_FILES" in refusal(server, source="./guide", include=["*"])

    accepted = server.client.post("/v1/repositories", json={"source": "./guide"})
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["repository"] == f"local:{disk / 'docs' / 'guide'}"
    assert server.wait_for_job(accepted.json()["job_id"])["state"] == "succeeded"

    hits = server.client.post("/v1/search", json={"query": "heron password", "k": 10}).json()["hits"]
    texts = [h["text"] for h in hits]
    assert any("heron" in t for t in texts)
    assert not any("swordfish" in t for t in texts)


async def test_the_mcp_tools_of_the_server_are_confined_alike(serve: ServeFactory, disk: Path) -> None:
    server = serve(REPOCHAT_LOCAL_ROOTS=str(disk / "docs"))
    async with Client(f"{server.url}/mcp") as client:
        refused = await client.call_tool("index_repository", {"source": str(disk / "secret")})
        accepted = await client.call_tool("index_repository", {"source": str(disk / "docs" / "guide")})
    assert refused.is_error and "outside the folders this server may index" in str(refused.content)
    assert not accepted.is_error, accepted.content
