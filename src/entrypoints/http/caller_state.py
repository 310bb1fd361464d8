"""Where the HTTP edge leaves the caller of a request: the `state` of its ASGI scope.

FastAPI's `request.state`, the MCP SDK's request (a tool's `Context`) and the outer middleware (the
request log) all read that one dict. Kept free of FastAPI so the MCP server imports it cheaply.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from domain.access import Caller

CALLER = "caller"


def remember_caller(scope: MutableMapping[str, Any], caller: Caller) -> None:
    scope.setdefault("state", {})[CALLER] = caller


def caller_in(scope: MutableMapping[str, Any]) -> Caller | None:
    """The caller the edge identified; None before it did (or for a route that needs none)."""
    caller = scope.get("state", {}).get(CALLER)
    return caller if isinstance(caller, Caller) else None
