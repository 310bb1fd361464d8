"""POST /v1/chat/completions: repochat answers in the OpenAI Chat Completions shape.

`model` names the collection: `repochat` for the default one, `repochat:<collection>`
for another. The last user message is the question, earlier turns are the history, and
citations are appended to the answer as a numbered list of links.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from pydantic import BaseModel, Field

from application.answering import AnswerEvent, AnswerQuestion, AskRequest, CitationsEvent, TokenEvent
from domain.answers import ChatTurn, Citation
from domain.collections import DEFAULT_COLLECTION
from domain.errors import InvalidInput, RepochatError


class ChatMessage(BaseModel):
    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(str(part.get("text", "")) for part in self.content if part.get("type") == "text")
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    model: str = "repochat"
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False

    def ask_request(self) -> AskRequest:
        collection = self.model.split(":", 1)[1] if ":" in self.model else DEFAULT_COLLECTION
        turns = [m for m in self.messages if m.role in ("user", "assistant")]
        if not turns or turns[-1].role != "user" or not turns[-1].text().strip():
            raise InvalidInput("the last message must be a non-empty user message")
        history = tuple(ChatTurn(m.role, m.text()) for m in turns[:-1])
        return AskRequest(turns[-1].text(), history, collection)


def sources_text(citations: Sequence[Citation]) -> str:
    if not citations:
        return ""
    lines = [f"[{n}] {c.url or c.path}" for n, c in enumerate(citations, start=1)]
    return "\n\nSources:\n" + "\n".join(lines)


async def chat_completion(
    body: ChatCompletionRequest, request: AskRequest, answer_question: AnswerQuestion
) -> dict[str, Any]:
    answer = await answer_question.execute(request)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text + sources_text(answer.citations)},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


async def chat_completion_chunks(body: ChatCompletionRequest, events: AsyncIterator[AnswerEvent]) -> AsyncIterator[str]:
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())

    def chunk(delta: dict[str, str], finish: str | None = None) -> str:
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": body.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(payload)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    try:
        async for event in events:
            if isinstance(event, TokenEvent):
                yield chunk({"content": event.text})
            elif isinstance(event, CitationsEvent) and event.citations:
                yield chunk({"content": sources_text(event.citations)})
    except RepochatError as e:
        yield f"data: {json.dumps({'error': {'code': e.code, 'message': e.message}})}\n\n"
    yield chunk({}, "stop")
    yield "data: [DONE]\n\n"
