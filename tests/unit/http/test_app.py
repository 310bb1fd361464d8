"""The app's lifespan: it runs the jobs and the sync schedule, holds the data folder and closes all at the end."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from adapters.data_dir_lock import DataDirLock
from entrypoints.container import Container
from entrypoints.http.app import create_app
from tests.unit.fakes import RecordingJobQueue
from tests.unit.http.helpers import (
    container_of,
    settings,
    use,
)


async def test_the_lifespan_runs_the_jobs_holds_the_data_folder_and_closes_all_at_the_end(
    container: Container, app: FastAPI, tmp_path: Path
) -> None:
    queue = RecordingJobQueue()
    use(container.inprocess_queue, queue)

    async with app.router.lifespan_context(app):
        assert queue.lifecycle == ["start"]
        assert container.data_dir_lock.initialized

    assert queue.lifecycle == ["start", "stop"]
    assert container.http_client().is_closed
    next_process = DataDirLock(tmp_path, "the next process")
    next_process.acquire()  # released: this does not raise DataDirBusy
    next_process.release()


def schedule_tasks() -> list[asyncio.Task[Any]]:
    return [task for task in asyncio.all_tasks() if task.get_name() == "repochat sync schedule" and not task.done()]


async def test_the_lifespan_runs_the_in_process_sync_schedule_when_an_interval_is_set(tmp_path: Path) -> None:
    for interval, schedules in ((None, 0), ("1h", 1)):
        container = container_of(settings(data_dir=tmp_path / str(interval), sync_interval=interval))
        use(container.inprocess_queue, RecordingJobQueue())
        app = create_app(container)
        async with app.router.lifespan_context(app):
            assert len(schedule_tasks()) == schedules
        assert schedule_tasks() == []
