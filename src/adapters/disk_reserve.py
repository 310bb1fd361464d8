"""DiskReserve: room kept free on the disk of the data folder, so a full disk never breaks what is stored.

Embedded Chroma writes a chunk to its log first and applies the log to its segments later, at the
next read or write. On a disk with no room left the apply fails, and keeps failing at every
read, after a restart too, until room is made: one index job that filled the disk made every
search a 503. So writes stop while less than the reserve is free: the job fails with a message
that says so, and the reserve stays for Chroma to apply what it already logged and to delete
what the failed job wrote.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from domain.errors import StorageFull

MB = 1024 * 1024


class DiskReserve:
    def __init__(self, folder: Path, reserve_bytes: int) -> None:
        self._folder = folder
        self._reserve_bytes = reserve_bytes

    def free_bytes(self) -> int:
        folder = self._folder
        while not folder.exists() and folder != folder.parent:  # the data folder is made on first use
            folder = folder.parent
        return shutil.disk_usage(folder).free

    def check(self) -> None:
        """StorageFull when less than the reserve is free."""
        free = self.free_bytes()
        if free < self._reserve_bytes:
            raise StorageFull(
                f"the disk of the data folder {self._folder} has {free / MB:.1f} MB free, under the "
                f"{self._reserve_bytes / MB:.0f} MB kept free for the stored data (REPOCHAT_DISK_RESERVE_MB): "
                "nothing more is written; free some space or grow the disk, then index again"
            )

    async def ping(self) -> None:
        """check() for readiness probes."""
        self.check()
