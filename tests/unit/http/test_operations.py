"""Operations: readiness reports each dependency."""

from __future__ import annotations

from pathlib import Path

import httpx

from adapters.disk_reserve import DiskReserve
from domain.errors import UpstreamUnavailable
from entrypoints.container import Container
from tests.unit.fakes import RecordingJobQueue
from tests.unit.http.helpers import use


async def test_readiness_reports_each_dependency(
    container: Container, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    queue = RecordingJobQueue()
    use(container.job_queue, queue)

    class DownIndex:
        async def ping(self) -> None:
            raise UpstreamUnavailable("cannot reach Chroma")

    use(container.vector_index, DownIndex())
    use(container.disk_reserve, DiskReserve(tmp_path, 1 << 62))

    response = await client.get("/readyz")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert (checks["vector_store"], checks["job_queue"]) == ("cannot reach Chroma", "ok")
    assert "REPOCHAT_DISK_RESERVE_MB" in checks["disk"]
