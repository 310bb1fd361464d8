"""A full disk is told as such: by the reserve before a write, and when Chroma fails for lack of room."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from adapters.disk_reserve import DiskReserve
from adapters.vectorstore.chroma_client import call_chroma
from domain.errors import StorageFull, UpstreamUnavailable


def test_the_reserve_refuses_writes_once_less_is_free(tmp_path: Path) -> None:
    DiskReserve(tmp_path, 0).check()
    with pytest.raises(StorageFull, match="REPOCHAT_DISK_RESERVE_MB"):
        DiskReserve(tmp_path, 1 << 62).check()


def test_the_reserve_measures_a_data_folder_not_made_yet(tmp_path: Path) -> None:
    assert DiskReserve(tmp_path / "not" / "yet", 0).free_bytes() > 0


def fails_with(error: Exception) -> None:
    raise error


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        RuntimeError("Error in compaction: Failed to apply logs to the metadata segment"),
    ],
)
async def test_chroma_failing_for_lack_of_room_is_storage_full(error: Exception) -> None:
    with pytest.raises(StorageFull, match="most likely full"):
        await call_chroma("store chunks", lambda: fails_with(error))


async def test_other_chroma_failures_stay_upstream_unavailable() -> None:
    with pytest.raises(UpstreamUnavailable, match="Chroma failed to store chunks: RuntimeError: gone"):
        await call_chroma("store chunks", lambda: fails_with(RuntimeError("gone")))
