"""A cancelled index job through `repochat serve` deletes what it wrote as it ends, and the next index
keeps only live chunks, on embedded Chroma and on a Chroma server."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import chromadb
import pytest
from chromadb.api import ClientAPI

from adapters.vectorstore.chroma_manifests import ChromaManifestStore
from tests.integration.helpers import ROOT, ApiServer, ServeFactory, wait_until

PYTHON_DOCS = ROOT.parent / "shared" / "corpora" / "python-docs"


@pytest.fixture(params=["embedded", "server"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[dict[str, str], Path | str]]:
    """The server's Chroma settings, and what to open it by once the server is stopped."""
    if request.param == "embedded":
        yield {}, tmp_path / "data" / "chroma"
    else:
        url = request.getfixturevalue("chroma_server")
        yield {"REPOCHAT_CHROMA_URL": url}, url


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """A copy of Python's docs (about 500 files: big enough to cancel a job mid-way) in the server's root."""
    if not PYTHON_DOCS.is_dir():
        pytest.fail(f"the documentation corpus is missing at {PYTHON_DOCS}")
    return Path(shutil.copytree(PYTHON_DOCS, tmp_path / "root" / "python-docs"))


def open_chroma(where: Path | str) -> ClientAPI:
    if isinstance(where, Path):
        return chromadb.PersistentClient(path=str(where))
    host, port = where.removeprefix("http://").split(":")
    return chromadb.HttpClient(host=host, port=int(port))


def stored_versions(client: ClientAPI, collection: str, repository: str) -> list[tuple[str, str]]:
    """(path, blob sha) of every chunk of `repository`, read from Chroma itself."""
    found = client.get_collection(collection).get(where={"repository": repository}, include=["metadatas"])
    return [(str(m["path"]), str(m["blob_sha"])) for m in found["metadatas"] or []]


def cancel_mid_way(server: ApiServer, source: Path, collection: str) -> str:
    """Start indexing `source`, cancel the job once it has stored chunks; the repository id."""
    accepted = server.client.post("/v1/repositories", json={"source": str(source), "collection": collection})
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["job_id"]

    def writing() -> bool:
        job = server.client.get(f"/v1/jobs/{job_id}").json()
        assert job["state"] in ("queued", "running"), f"the job finished before it was cancelled: {job}"
        return bool(job["progress"]["chunks_written"])

    wait_until(writing, 120, "the job storing chunks", interval=0.02)
    assert server.client.delete(f"/v1/jobs/{job_id}").status_code == 200
    assert server.wait_for_job(job_id)["state"] == "cancelled"
    return str(accepted.json()["repository"])


def test_a_cancelled_first_index_removes_its_chunks_and_a_reindex_keeps_only_live_ones(
    serve: ServeFactory, tmp_path: Path, backend: tuple[dict[str, str], Path | str], docs: Path
) -> None:
    env, where = backend
    collection = f"cleanup-{uuid.uuid4().hex[:8]}"
    server = serve(REPOCHAT_LOCAL_ROOTS=str(tmp_path / "root"), **env)

    repository = cancel_mid_way(server, docs, collection)
    assert server.client.get(f"/v1/repositories/{repository}").status_code == 404  # never fully indexed
    assert server.client.delete(f"/v1/repositories/{repository}").status_code == 404  # nothing left to forget
    server.stop()
    assert stored_versions(open_chroma(where), collection, repository) == []

    server = serve(REPOCHAT_LOCAL_ROOTS=str(tmp_path / "root"), **env)
    cancel_mid_way(server, docs, collection)
    for page in docs.rglob("*.*"):  # every version the cancelled job stored is now out of date
        page.write_text(page.read_text(errors="replace") + "\nEdited after a cancelled index.\n")
    accepted = server.client.post("/v1/repositories", json={"source": str(docs), "collection": collection})
    job = server.wait_for_job(accepted.json()["job_id"], timeout=600)
    assert job["state"] == "succeeded", job
    server.stop()

    client = open_chroma(where)
    manifest = asyncio.run(ChromaManifestStore(client).get(collection, repository, None))
    assert manifest is not None
    stored = stored_versions(client, collection, repository)
    live = {(path, sha) for path, sha in manifest.files.items() if manifest.chunk_counts.get(path)}
    assert set(stored) == live and len(stored) == manifest.chunk_total
    assert job["result"]["chunks_deleted"] == 0  # the cancelled job took its chunks with it
