"""POST /v1/chat/completions: repochat answers in the OpenAI Chat Completions shape.

`model` names the collection: `repochat` for the default one, `repochat:<collection>`
for another. The last user message is the question, earlier turns are the history, and
citations are appended to the answer as a numbered list of links.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field, field_serializer

from application.answering import AnswerEvent, AnswerQuestion, AskRequest, CitationsEvent, TokenEvent
from domain.answers import ChatTurn, Citation
from domain.collections import DEFAULT_COLLECTION
from domain.errors import InvalidInput, RepochatError
from entrypoints.views import ErrorResponse


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


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"


class Usage(BaseModel):
    """repochat does not count tokens: always zeros, for clients that expect the field."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage = Field(default_factory=Usage)


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta = Field(description="only the fields this chunk adds: the role first, then content")
    finish_reason: Literal["stop"] | None = None

    @field_serializer("delta")
    def _only_what_the_chunk_adds(self, delta: Delta) -> dict[str, Any]:
        return delta.model_dump(exclude_none=True)


class ChatCompletionChunk(BaseModel):
    """One `data:` line of a streamed completion."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]


def sources_text(citations: Sequence[Citation]) -> str:
    if not citations:
        return ""
    lines = [f"[{n}] {c.url or c.path}" for n, c in enumerate(citations, start=1)]
    return "\n\nSources:\n" + "\n".join(lines)


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


async def chat_completion(
    body: ChatCompletionRequest, request: AskRequest, answer_question: AnswerQuestion
) -> ChatCompletion:
    answer = await answer_question.execute(request)
    message = AssistantMessage(content=answer.text + sources_text(answer.citations))
    return ChatCompletion(
        id=_completion_id(), created=int(time.time()), model=body.model, choices=[Choice(message=message)]
    )


async def chat_completion_chunks(body: ChatCompletionRequest, events: AsyncIterator[AnswerEvent]) -> AsyncIterator[str]:
    completion_id = _completion_id()
    created = int(time.time())

    def chunk(delta: Delta, finish: Literal["stop"] | None = None) -> str:
        choice = ChunkChoice(delta=delta, finish_reason=finish)
        payload = ChatCompletionChunk(id=completion_id, created=created, model=body.model, choices=[choice])
        return _data(payload)

    yield chunk(Delta(role="assistant", content=""))
    try:
        async for event in events:
            if isinstance(event, TokenEvent):
                yield chunk(Delta(content=event.text))
            elif isinstance(event, CitationsEvent) and event.citations:
                yield chunk(Delta(content=sources_text(event.citations)))
    except RepochatError as e:
        yield _data(ErrorResponse.of(e.code, e.message))
    yield chunk(Delta(), "stop")
    yield "data: [DONE]\n\n"


def _data(payload: BaseModel) -> str:
    return f"data: {payload.model_dump_json()}\n\n"
