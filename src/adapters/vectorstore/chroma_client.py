"""Opening Chroma (embedded under the data folder, or a server) and calling it off the event loop.

chromadb's client is blocking, so every call runs in a worker thread. Vectors are always
passed in: Chroma's default embedding function downloads a model at run time, and it never runs.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

import chromadb
import numpy as np
import numpy.typing as npt
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings as ChromaSettings

from adapters.data_dir_lock import DataDirLock
from domain.errors import InvalidInput, RepochatError, StorageFull, UpstreamUnavailable

T = TypeVar("T")
FULL_DISK_SIGNS = ("No space left on device", "Failed to apply logs to the metadata segment")


def _chroma_settings() -> ChromaSettings:
    """New settings for each client: chromadb writes the path or server address into the object it is given."""
    return ChromaSettings(anonymized_telemetry=False)


def open_embedded_chroma(data_dir: Path, _lock: DataDirLock) -> ClientAPI:
    """The lock is taken as an argument so the data folder is always locked before Chroma opens it."""
    return chromadb.PersistentClient(path=str(data_dir / "chroma"), settings=_chroma_settings())


def open_chroma_server(url: str) -> ClientAPI:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InvalidInput(f"REPOCHAT_CHROMA_URL must look like http://host:port, not {url!r}")
    try:
        return chromadb.HttpClient(
            host=parsed.hostname,
            port=parsed.port or (443 if parsed.scheme == "https" else 8000),
            ssl=parsed.scheme == "https",
            settings=_chroma_settings(),
        )
    except Exception as e:
        raise UpstreamUnavailable(f"cannot reach the Chroma server at {url}: {e}") from e


async def call_chroma(action: str, function: Callable[[], T]) -> T:
    """Run a blocking chromadb call in a thread; its failures become `UpstreamUnavailable`.

    A thread cannot be stopped, so a cancelled caller waits for its call to finish before the
    cancellation goes on: once a cancelled job's task is done, nothing it started still writes.
    """
    call = asyncio.ensure_future(asyncio.to_thread(function))
    try:
        return await asyncio.shield(call)
    except asyncio.CancelledError:
        await asyncio.wait([call])
        raise
    except RepochatError:
        raise
    except Exception as e:
        failure = f"Chroma failed to {action}: {type(e).__name__}: {e}"
        if _looks_like_a_full_disk(e):
            raise StorageFull(f"{failure}; the disk holding Chroma's data is most likely full: free some space") from e
        raise UpstreamUnavailable(failure) from e


def _looks_like_a_full_disk(error: Exception) -> bool:
    """Embedded Chroma reports a full disk as an OSError, or as a log it failed to apply."""
    text = str(error)
    return (isinstance(error, OSError) and error.errno == errno.ENOSPC) or any(sign in text for sign in FULL_DISK_SIGNS)


RECORD_VECTOR: npt.NDArray[np.float32] = np.ones((1, 1), dtype=np.float32)
"""The vector of a record in a reserved collection: Chroma stores one with every record, and nothing searches them."""


class ReservedCollection:
    """A collection of repochat's own records (manifests, sync statuses, deliveries), opened on first use."""

    def __init__(self, client: ClientAPI, name: str) -> None:
        self._client = client
        self._name = name
        self._collection: Collection | None = None

    def __call__(self) -> Collection:
        if self._collection is None:
            self._collection = self._client.get_or_create_collection(self._name, embedding_function=None)
        return self._collection
