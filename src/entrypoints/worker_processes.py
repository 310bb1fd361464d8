"""The child processes of a `repochat worker` die with it, even when it is killed with SIGKILL.

The Hatchet SDK runs a worker's connection to the engine, the "action listener" that takes
tasks and sends the worker's heartbeats, in a child process started with multiprocessing's
*spawn* method. Nothing ties that child to its parent: when the parent is killed at once
(SIGKILL, the kernel's OOM killer), the child lives on and keeps heartbeating for a worker
that no longer runs anything, so the engine never hands the dead worker's tasks to another
one. (SIGTERM, SIGINT and SIGQUIT are not affected: the SDK stops the child itself then.)

`make_children_die_with(worker)` has the SDK start its children as `ParentBoundProcess`es,
which, first thing in the child, ask Linux for a SIGKILL when their parent dies
(`prctl(PR_SET_PDEATHSIG)`). The kernel sends it when the thread that started the child
ends; the SDK starts its listener from the worker's event loop, which runs on the main
thread for the life of the process. On other systems a daemon thread of the child waits for
the parent's end of a pipe to close instead. `os.register_at_fork` hooks cannot do this:
spawn starts a new interpreter (fork + exec in C), which runs no at-fork hook.

The SDK has no option for this (hatchet-sdk 1.37.5) and starts its children through its
private `Worker._ctx` multiprocessing context; the worker refuses to start if that changes,
rather than run without the guard.
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
    worker._ctx = ParentBoundContext()


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
