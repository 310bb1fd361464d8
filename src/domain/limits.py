"""What one search or question may ask for, decided once for every entrypoint.

The search and answer use cases check their requests against `InputLimits`, so HTTP, the chat
completions route, the CLI and the MCP tools refuse the same input with the same message. The
byte limits are configurable (the container builds the limits from the settings named in the
messages); the range of `k` is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.answers import ChatTurn
from domain.errors import InvalidInput

MAX_K = 50
"""The most passages one search (or the evidence of one answer) returns."""
DEFAULT_MAX_QUESTION_BYTES = 16 * 1024
DEFAULT_MAX_HISTORY_BYTES = 1024 * 1024
"""As large as the default request body, so a history the HTTP API accepts is never refused for its size."""


@dataclass(frozen=True)
class InputLimits:
    max_question_bytes: int = DEFAULT_MAX_QUESTION_BYTES
    """The longest question or search query, in UTF-8 bytes (REPOCHAT_MAX_QUESTION_BYTES)."""
    max_history_bytes: int = DEFAULT_MAX_HISTORY_BYTES
    """The most UTF-8 bytes the turns of a conversation's history hold together (REPOCHAT_MAX_HISTORY_BYTES)."""

    def check_text(self, text: str, name: str) -> None:
        """A question or query (`name` says which) must not be blank nor over max_question_bytes."""
        if not text.strip():
            raise InvalidInput(f"the {name} is empty")
        size = len(text.encode())
        if size > self.max_question_bytes:
            raise InvalidInput(
                f"the {name} is {size} bytes, over the limit of {self.max_question_bytes} (REPOCHAT_MAX_QUESTION_BYTES)"
            )

    def check_k(self, k: int) -> None:
        if not 1 <= k <= MAX_K:
            raise InvalidInput(f"k must be between 1 and {MAX_K}")

    def check_history(self, history: Sequence[ChatTurn]) -> None:
        size = sum(len(turn.content.encode()) for turn in history)
        if size > self.max_history_bytes:
            raise InvalidInput(
                f"the history is {size} bytes, over the limit of {self.max_history_bytes} (REPOCHAT_MAX_HISTORY_BYTES)"
            )
