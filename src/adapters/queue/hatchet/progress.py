"""A job's progress as JSON log lines of its parent task: `{"stage", "files_total", "files_done", "chunks_written"}`.

Hatchet keeps a task's log lines (unlike live streams), so the parent writes one line per change
and `HatchetJobQueue` reads the newest. The writer and the reader of the format live here together.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from adapters.domain_json import PROGRESS
from application.ports.jobs import ProgressReporter
from domain.jobs import Progress


@dataclass(frozen=True)
class LoggedProgress:
    """What one progress line says."""

    stage: str
    progress: Progress


class ProgressLog(ProgressReporter):
    """Writes progress lines through `write_line` (a task's `aio_log`), skipping repeats of the last line."""

    def __init__(self, write_line: Callable[[str], Awaitable[None]]) -> None:
        self._write_line = write_line
        self._line = ""

    async def report(self, stage: str, progress: Progress) -> None:
        line = progress_line(LoggedProgress(stage, progress))
        if line != self._line:
            self._line = line
            await self._write_line(line)


def progress_line(logged: LoggedProgress) -> str:
    return json.dumps({"stage": logged.stage, **PROGRESS.to_data(logged.progress)})


def read_progress_line(message: str) -> LoggedProgress | None:
    """The progress a log line reports, or None for any other log line."""
    if not message.startswith("{"):
        return None
    try:
        data = json.loads(message)
        return LoggedProgress(str(data["stage"]), PROGRESS.from_data(data))
    except (ValueError, KeyError, TypeError):
        return None
