"""ExtractionFolder: where this process extracts archives, and how what a killed process left is removed.

Each process extracts into a folder of its own under the root (`<data_dir>/tmp/archives/<name>/`),
beside a lock file (`<name>.lock`) it holds while it lives: the kernel lets go of the lock when the
process dies, however it dies. A process claiming its folder removes every folder whose lock is free
(its process is gone), so a restart clears what a killed process left, while other live processes
sharing the data folder (API replicas, workers) keep theirs.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import IO

LOCK_SUFFIX = ".lock"


class ExtractionFolder:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._lock: IO[bytes] | None = None

    @property
    def own(self) -> Path:
        return self.root / self._name

    def claim(self) -> Path:
        """This process's folder, created (and every leftover removed) on the first call. Blocking."""
        if self._lock is None:
            self.root.mkdir(parents=True, exist_ok=True)
            # Locked under another name, then renamed: a lock file other processes see is always held.
            claiming = self.root / f".{self._name}.claiming"
            lock = claiming.open("wb")
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            claiming.replace(self.root / f"{self._name}{LOCK_SUFFIX}")
            self._lock = lock
            self.own.mkdir(exist_ok=True)
            remove_leftovers(self.root)
        return self.own

    def new_job_folder(self) -> Path:
        """A fresh folder for one archive, inside this process's folder. Blocking."""
        return Path(tempfile.mkdtemp(prefix="archive-", dir=self.claim()))

    def release(self) -> None:
        """Remove this process's folder and let go of its lock. Blocking."""
        if self._lock is None:
            return
        shutil.rmtree(self.own, ignore_errors=True)
        (self.root / f"{self._name}{LOCK_SUFFIX}").unlink(missing_ok=True)
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()
        self._lock = None


def remove_leftovers(root: Path) -> None:
    """Remove the folders under `root` whose process is gone: their lock is free, or they have none.

    A process locks its lock file before it makes its folder, so a folder without a lock file is
    one whose removal was cut short.
    """
    for lock_path in root.glob(f"*{LOCK_SUFFIX}"):
        with lock_path.open("ab") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live process holds it
            shutil.rmtree(root / lock_path.name.removesuffix(LOCK_SUFFIX), ignore_errors=True)
            lock_path.unlink(missing_ok=True)
    for folder in root.iterdir():
        if folder.is_dir() and not (root / f"{folder.name}{LOCK_SUFFIX}").exists():
            shutil.rmtree(folder, ignore_errors=True)
