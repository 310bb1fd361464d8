"""The job and task a log record belongs to, set by the running task and read by the worker's log filter."""

from __future__ import annotations

from contextvars import ContextVar

current_job: ContextVar[str] = ContextVar("repochat_current_job", default="-")
"""The job (parent run id) the running task works for."""
current_task: ContextVar[str] = ContextVar("repochat_current_task", default="-")
"""The task run itself."""
