"""Resources the container opens and closes: clients, the data folder lock, the keyword index, the job queue,
the sync schedule.

Each is a generator for `providers.Resource`: what comes before `yield` opens, what comes after
closes, when the container shuts its resources down.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from chromadb.api import ClientAPI

from adapters.data_dir_lock import DataDirLock
from adapters.keyword.chunk_reader import ChunkReader
from adapters.keyword.tantivy_index import TantivyKeywordIndex
from adapters.sources.github import GitHubArchiveSource
from adapters.vectorstore.migrations import migrate_chroma
from application.ports.jobs import JobQueue
from application.sync import SyncIndexedRepositories
from domain.sync import SyncSchedule
from entrypoints.sync_scheduler import SyncScheduler

if TYPE_CHECKING:
    from hatchet_sdk import Hatchet

    from adapters.embeddings.openai import OpenAIEmbedder
    from adapters.llm.openai import OpenAIChatGenerator
    from adapters.queue.hatchet.queue import HatchetJobQueue


def hold_data_dir(data_dir: Path, owner: str) -> Iterator[DataDirLock]:
    lock = DataDirLock(data_dir, owner)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()


def keyword_index(vectors: ChunkReader, folder: Path) -> Iterator[TantivyKeywordIndex]:
    """The keyword index kept in `folder`; closing it lets go of its folder's lock."""
    index = TantivyKeywordIndex(vectors, folder)
    try:
        yield index
    finally:
        index.close()


def migrated_chroma(client: ClientAPI) -> ClientAPI:
    """The Chroma client, once what earlier builds wrote there is in the current form.

    The container opens Chroma through this, so each process migrates once, before any adapter
    reads, and only processes that use Chroma open it (and lock an embedded data folder).
    """
    migrate_chroma(client)
    return client


def job_database(data_dir: Path, _lock: DataDirLock) -> Path:
    """Where the in-process queue records jobs; needs the data folder locked first."""
    return data_dir / "jobs.sqlite3"


async def closing_clients(http_client: httpx.AsyncClient, github_source: GitHubArchiveSource) -> AsyncIterator[None]:
    """Closes the shared HTTP client, and the GitHub source's extracted archives, at the end; at the start
    the source removes the archives killed processes left."""
    await github_source.open()
    try:
        yield None
    finally:
        await github_source.aclose()
        await http_client.aclose()


async def run_jobs(queue: JobQueue, *_used_by_jobs: object) -> AsyncIterator[JobQueue]:
    """Runs the queue's jobs in this process (where the queue runs them here at all) until shutdown.

    The other arguments are the resources the jobs use (the clients, the data folder lock): depending
    on them makes the container close them only after the queue has stopped.
    """
    await queue.start()
    try:
        yield queue
    finally:
        await queue.stop()


async def schedule_syncs(
    sync: Callable[[], SyncIndexedRepositories], schedule: SyncSchedule | None, _job_runner: object
) -> AsyncIterator[None]:
    """Runs the in-process schedule of syncs (none when `schedule` is None) until shutdown.

    It depends on the job runner, so the schedule stops before the jobs it queues do.
    """
    if schedule is None:
        yield None
        return
    task = asyncio.create_task(SyncScheduler(sync, schedule).run(), name="repochat sync schedule")
    try:
        yield None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# langchain-openai and hatchet_sdk take seconds to import: the builders below import them only
# when the settings select them, so `repochat search` on the embedded default starts quickly.


@dataclass(frozen=True)
class OpenAIConnection:
    """Where both OpenAI adapters send their calls: the key (None: OPENAI_API_KEY), the endpoint, our HTTP client."""

    api_key: str | None
    base_url: str | None
    http_client: httpx.AsyncClient


def openai_embedder(model: str, connection: OpenAIConnection) -> OpenAIEmbedder:
    from adapters.embeddings.openai import OpenAIEmbedder

    return OpenAIEmbedder(model, connection.api_key, connection.base_url, connection.http_client)


def openai_chat_generator(model: str, connection: OpenAIConnection) -> OpenAIChatGenerator:
    from adapters.llm.openai import OpenAIChatGenerator

    return OpenAIChatGenerator(model, connection.api_key, connection.base_url, connection.http_client)


def hatchet_client() -> Hatchet:
    from adapters.queue.hatchet.client import connect_hatchet

    return connect_hatchet()


def hatchet_job_queue(hatchet: Hatchet) -> HatchetJobQueue:
    from adapters.queue.hatchet.queue import HatchetJobQueue

    return HatchetJobQueue(hatchet)
