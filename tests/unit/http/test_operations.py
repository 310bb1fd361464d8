"""Operations: readiness reports each dependency."""

from __future__ import annotations

import httpx

from domain.errors import UpstreamUnavailable
from entrypoints.container import Container
from tests.unit.fakes import RecordingJobQueue
from tests.unit.http.helpers import use


async def test_readiness_reports_each_dependency(container: Container, client: httpx.AsyncClient) -> None:
    queue = RecordingJobQueue()
    use(container.job_queue, queue)

    class DownIndex:
        async def ping(self) -> None:
            raise UpstreamUnavailable("cannot reach Chroma")

    use(container.vector_index, DownIndex())

    response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "not ready",
        "checks": {"vector_store": "cannot reach Chroma", "job_queue": "ok"},
    }
