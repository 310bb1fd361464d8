"""Ports: running index jobs and reporting on them."""

from __future__ import annotations

from typing import Protocol

from domain.jobs import IndexRequest, Job, Progress


class ProgressReporter(Protocol):
    async def report(self, stage: str, progress: Progress) -> None: ...


class JobQueue(Protocol):
    """Runs index jobs somewhere (this process, Hatchet workers) and reports on them."""

    async def start(self) -> None:
        """Begin running jobs in this process, where the queue runs them here at all."""
        ...

    async def stop(self) -> None: ...

    async def submit(self, request: IndexRequest) -> Job:
        """Queue a job, or return the unfinished job of the same (collection, repository, ref)."""
        ...

    async def get(self, job_id: str) -> Job: ...

    async def recent(self, limit: int = 50) -> list[Job]: ...

    async def cancel(self, job_id: str) -> Job: ...

    async def ping(self) -> None: ...
