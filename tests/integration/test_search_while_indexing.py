"""Searches against `repochat serve` stay complete while an index job writes a new version of the
same repository: its not-yet-live chunks rank as high as the live ones and must not crowd them out."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.integration.helpers import ApiServer, ServeFactory

QUERIES = ("optional query parameters", "request body model", "path parameters", "dependencies", "security")
K = 10


def submit(server: ApiServer, source: Path) -> str:
    response = server.client.post("/v1/repositories", json={"source": str(source)})
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def searches_until_done(server: ApiServer, job_id: str) -> list[tuple[int, int, int]]:
    """(status, hits, chunks the job had written) of searches sent until the job finished."""
    seen: list[tuple[int, int, int]] = []
    with httpx.Client(base_url=server.url, timeout=60) as client:
        while True:
            job = client.get(f"/v1/jobs/{job_id}").json()
            if job["state"] not in ("queued", "running") or len(seen) > 2000:
                return seen
            query = QUERIES[len(seen) % len(QUERIES)]
            response = client.post("/v1/search", json={"query": query, "k": K})
            hits = len(response.json().get("hits", [])) if response.status_code == 200 else -1
            seen.append((response.status_code, hits, job["progress"]["chunks_written"]))


def test_searches_return_k_live_hits_during_a_reindex(
    serve: ServeFactory, corpus: Path, tmp_path: Path, local_roots: str
) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(corpus, docs)
    server = serve(REPOCHAT_LOCAL_ROOTS=f"{local_roots}:{tmp_path}")
    assert server.wait_for_job(submit(server, docs))["state"] == "succeeded"
    for page in docs.rglob("*.md"):  # a new version whose every line matches the queries better than the live one
        lines = page.read_text().splitlines()
        page.write_text("\n".join(f"{line} {' '.join(QUERIES)}" if line.strip() else line for line in lines))

    job_id = submit(server, docs)
    with ThreadPoolExecutor(4) as pool:
        rounds = list(pool.map(lambda _: searches_until_done(server, job_id), range(4)))

    assert server.wait_for_job(job_id)["state"] == "succeeded"
    during = [s for r in rounds for s in r if s[2] > 0]  # sent while new, unswapped chunks were stored
    assert len(during) >= 20, f"too few searches overlapped the job's writes: {len(during)}"
    short = [s for r in rounds for s in r if s[:2] != (200, K)]
    assert short == [], f"{len(short)} of {sum(map(len, rounds))} searches failed or came back short"
