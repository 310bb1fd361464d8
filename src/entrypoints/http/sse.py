"""Server-sent events: the streamed answers of /v1/ask and /v1/chat/completions."""

import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from application.answering import AnswerEvent
from domain.errors import RepochatError

log = logging.getLogger(__name__)

EVENT_STREAM_SCHEMA = {
    "type": "object",
    "description": "one Server-Sent Event: its name (none on chat completions) and its data, a JSON text",
    "properties": {"event": {"type": "string"}, "data": {"type": "string"}},
    "required": ["data"],
}


def streamed_alternative(description: str) -> dict[int | str, dict[str, Any]]:
    """Declares a 200 `text/event-stream` body beside the route's JSON response model."""
    return {200: {"description": description, "content": {"text/event-stream": {"schema": EVENT_STREAM_SCHEMA}}}}


def event_stream(lines: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(lines, media_type="text/event-stream", headers={"cache-control": "no-cache"})


def event(name: str, data: BaseModel | str) -> str:
    """A named event (the streams of /v1/ask)."""
    payload = data if isinstance(data, str) else data.model_dump_json()
    return f"event: {name}\ndata: {payload}\n\n"


def data(payload: BaseModel) -> str:
    """An unnamed event (the streams of the OpenAI-compatible routes)."""
    return f"data: {payload.model_dump_json()}\n\n"


async def started(events: AsyncIterator[AnswerEvent]) -> AsyncIterator[AnswerEvent]:
    """Wait for the first event before answering, so a failure that comes before any token
    (an empty question, retrieval, a refused API key) is an HTTP error status rather than a 200 stream."""
    first = await anext(events)

    async def replay() -> AsyncIterator[AnswerEvent]:
        yield first
        try:
            async for each in events:
                yield each
        except RepochatError:
            raise
        except Exception as e:  # a bug: still an error event, not a stream cut without a word
            log.exception("an answer broke off")
            raise RepochatError("the answer broke off on an unexpected error; see the server log") from e

    return replay()
