"""Resources the container opens and closes: clients, the data folder lock, the job queue."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import chromadb
import httpx
from chromadb.api import ClientAPI
from chromadb.config import Settings as ChromaSettings

from adapters.data_dir_lock import DataDirLock
from domain.errors import InvalidInput, UpstreamUnavailable

if TYPE_CHECKING:
    from hatchet_sdk import Hatchet

    from adapters.hatchet_queue import HatchetJobQueue
    from adapters.openai_embedder import OpenAIEmbedder
    from adapters.openai_generator import OpenAIChatGenerator

_CHROMA_SETTINGS = ChromaSettings(anonymized_telemetry=False)


def hold_data_dir(data_dir: Path, owner: str) -> Iterator[DataDirLock]:
    lock = DataDirLock(data_dir, owner)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()


def open_embedded_chroma(data_dir: Path, lock: DataDirLock) -> ClientAPI:
    """`lock` is taken as an argument so the data folder is always locked before Chroma opens it."""
    return chromadb.PersistentClient(path=str(data_dir / "chroma"), settings=_CHROMA_SETTINGS)


def open_chroma_server(url: str) -> ClientAPI:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InvalidInput(f"REPOCHAT_CHROMA_URL must look like http://host:port, not {url!r}")
    try:
        return chromadb.HttpClient(
            host=parsed.hostname,
            port=parsed.port or (443 if parsed.scheme == "https" else 8000),
            ssl=parsed.scheme == "https",
            settings=_CHROMA_SETTINGS,
        )
    except Exception as e:
        raise UpstreamUnavailable(f"cannot reach the Chroma server at {url}: {e}") from e


def job_database(data_dir: Path, lock: DataDirLock) -> Path:
    """Where the in-process queue records jobs; needs the data folder locked first."""
    return data_dir / "jobs.sqlite3"


# langchain-openai and hatchet_sdk take seconds to import: the builders below import them only
# when the settings select them, so `repochat search` on the embedded default starts quickly.


def openai_embedder(
    model: str, api_key: str | None, base_url: str | None, http_client: httpx.AsyncClient
) -> OpenAIEmbedder:
    from adapters.openai_embedder import OpenAIEmbedder

    return OpenAIEmbedder(model, api_key, base_url, http_client)


def openai_chat_generator(
    model: str, api_key: str | None, base_url: str | None, http_client: httpx.AsyncClient
) -> OpenAIChatGenerator:
    from adapters.openai_generator import OpenAIChatGenerator

    return OpenAIChatGenerator(model, api_key, base_url, http_client)


def hatchet_client() -> Hatchet:
    from adapters.hatchet_queue import connect_hatchet

    return connect_hatchet()


def hatchet_job_queue(hatchet: Hatchet) -> HatchetJobQueue:
    from adapters.hatchet_queue import HatchetJobQueue

    return HatchetJobQueue(hatchet)
