"""The child processes of a `repochat worker` die with it, even when it is killed with SIGKILL.

The Hatchet SDK's child process sends the worker's heartbeats; if it outlived a killed worker,
the engine would never hand that worker's tasks to another (docs/hatchet.md, "The worker
process"). `make_children_die_with(worker)` has the SDK start its children as
`ParentBoundProcess`es, which ask Linux for a SIGKILL when their parent dies
(`prctl(PR_SET_PDEATHSIG)`), or elsewhere watch the parent's end of a pipe. It goes through the
SDK's private `Worker._ctx` (hatchet-sdk 1.37.5) and refuses to start if that changes.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from multiprocessing import parent_process
from multiprocessing.connection import wait
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hatchet_sdk import Worker

PR_SET_PDEATHSIG = 1
"""From <linux/prctl.h>."""
ORPHANED_EXIT_CODE = 1


class ParentBoundProcess(SpawnProcess):
    """A spawned process that dies with the process that started it."""

    def run(self) -> None:
        die_with_parent()
        super().run()


class ParentBoundContext(SpawnContext):
    """The spawn context whose processes are `ParentBoundProcess`es."""

    Process = ParentBoundProcess


def make_children_die_with(worker: Worker) -> None:
    """Before `worker.start()`: the processes the SDK starts for `worker` end when its process ends."""
    if not isinstance(getattr(worker, "_ctx", None), SpawnContext):
        raise RuntimeError(
            "this hatchet-sdk no longer starts its worker's child processes through Worker._ctx; "
            "update entrypoints/worker_processes.py so that they die with the worker"
        )
    worker._ctx = ParentBoundContext()  # noqa: SLF001 - the SDK offers no public way to choose it


def die_with_parent() -> None:
    """In a child started by multiprocessing: end it when its parent process ends."""
    parent = parent_process()
    if parent is None:
        return
    if sys.platform == "linux":
        _request_kill_on_parent_death()
        if os.getppid() != parent.pid:  # the parent died before the request was made
            os._exit(ORPHANED_EXIT_CODE)
    else:
        threading.Thread(target=_exit_once_closed, args=(parent.sentinel,), name="parent-watch", daemon=True).start()


def _request_kill_on_parent_death() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"prctl(PR_SET_PDEATHSIG) failed: {os.strerror(error)}")


def _exit_once_closed(parent_sentinel: int) -> None:
    """The sentinel, the read end of a pipe whose write end only the parent holds, is ready once the parent is gone."""
    wait([parent_sentinel])
    os._exit(ORPHANED_EXIT_CODE)
