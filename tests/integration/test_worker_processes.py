"""The guard that makes the Hatchet SDK's child processes die with the worker (entrypoints/worker_processes.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from entrypoints.worker_processes import ParentBoundContext, make_children_die_with
from tests.integration.cluster import is_gone
from tests.integration.helpers import wait_until

PARENT = """
import time
from entrypoints.worker_processes import ParentBoundContext

child = ParentBoundContext().Process(target=time.sleep, args=(120,))
child.start()
print(child.pid, flush=True)
time.sleep(120)
"""


def test_a_child_dies_when_its_parent_is_killed_with_sigkill() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert not is_gone(child)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        wait_until(lambda: is_gone(child), 10, "the child ending with its parent", interval=0.05)
    finally:
        parent.kill()
        parent.wait()


def test_a_child_runs_its_target_as_a_spawned_process_does() -> None:
    child = ParentBoundContext().Process(target=time.sleep, args=(0,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0


def test_a_worker_without_the_private_context_is_refused() -> None:
    with pytest.raises(RuntimeError, match=r"Worker\._ctx"):
        make_children_die_with(SimpleNamespace())  # type: ignore[arg-type]
