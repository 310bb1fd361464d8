"""Follow-up questions: how a question that leans on its conversation becomes a search query.

"And how do I test it?" finds nothing by itself. With a chat model, the question and its
history are rewritten into one self-contained query (REWRITE_PROMPT), and that is searched.
Without one, the rule is literal: the question is the query, and the words of the last two
earlier user turns join the keyword leg's query only (SearchRequest.keyword_context), where
they add matches without moving the dense leg's vector away from what was asked now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.answers import ChatTurn

REWRITE_PROMPT = (
    "You turn the last question of a conversation about a software project into one "
    "self-contained search query for the project's documentation and code. Use only the "
    "conversation history to resolve references (it, that, this option, the second one): "
    "name what they refer to, keep the question's own words, identifiers and code as "
    "written, and add nothing the conversation does not say. If the question already stands "
    "alone, return it unchanged. Reply with the query alone, on one line, with no quotes, "
    "label or explanation."
)
REWRITE_TURNS = 6
"""The latest turns of the history the rewrite is shown."""
MAX_TURN_CHARS = 1500
"""Each turn shown to the rewrite is cut to this many characters (a long answer says little more)."""
MAX_QUERY_CHARS = 1000
"""A longer reply is not a search query: the rewrite is taken as failed."""
KEYWORD_CONTEXT_TURNS = 2
"""Without a chat model: the earlier user turns whose words join the keyword leg's query, each cut to
MAX_TURN_CHARS (a megabyte of history would be a query of thousands of terms, cut into terms on the event loop)."""


@dataclass(frozen=True)
class SearchQuery:
    """What a question is searched with."""

    text: str
    """The query of both legs: a rewritten standalone query, or the question itself."""
    keyword_context: str = ""
    """More text for the keyword leg only (the literal rule's earlier user turns)."""


def literal_query(question: str, history: Sequence[ChatTurn]) -> SearchQuery:
    """The rule without a chat model: the question, plus the last two earlier user turns for the keyword leg."""
    asked = [turn.content for turn in history if turn.role == "user" and turn.content.strip()]
    return SearchQuery(question, "\n".join(_cut(turn) for turn in asked[-KEYWORD_CONTEXT_TURNS:]))


def rewrite_request(question: str, history: Sequence[ChatTurn]) -> str:
    """The text the chat model rewrites: the latest turns, oldest first, then the question."""
    turns = [f"{turn.role}: {_cut(turn.content)}" for turn in history[-REWRITE_TURNS:]]
    return "Conversation:\n\n" + "\n\n".join(turns) + f"\n\nLast question: {question}"


def standalone_query(reply: str) -> str | None:
    """The query in the model's reply: its first non-empty line, without surrounding quotes or a
    `Query:` label. None when there is none, or the reply is too long to be a query."""
    line = next((line.strip() for line in reply.splitlines() if line.strip()), "")
    if line.lower().startswith(("query:", "search query:")):
        line = line.split(":", 1)[1].strip()
    line = line.strip("\"'`“”").strip()
    return line if line and len(line) <= MAX_QUERY_CHARS else None


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TURN_CHARS else text[:MAX_TURN_CHARS] + " …"
