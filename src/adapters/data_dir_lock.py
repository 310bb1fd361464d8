"""DataDirLock: one process at a time owns the embedded state under the data folder."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from domain.errors import DataDirBusy


class DataDirLock:
    """An exclusive, non-blocking lock file; the kernel frees it if the process dies."""

    def __init__(self, data_dir: Path, owner: str) -> None:
        self._path = data_dir / "repochat.lock"
        self._owner = owner
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        handle = self._path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise DataDirBusy(
                f"the data folder {self._path.parent} is in use by {holder}. Embedded state belongs to one "
                "process at a time: while `repochat serve` runs, go through its HTTP API (for example "
                "`curl -X POST http://127.0.0.1:8000/v1/repositories -H 'content-type: application/json' "
                '-d \'{"source": "..."}\'`; a local folder must be inside the server\'s REPOCHAT_LOCAL_ROOTS), '
                "or stop it, or set REPOCHAT_DATA_DIR to another folder."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{self._owner} (pid {os.getpid()})")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
