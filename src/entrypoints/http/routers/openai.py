"""The OpenAI-compatible routes, /v1/chat/completions and /v1/models, and the answer in OpenAI's shape
(docs/openai-compatibility.md).

Routes evaluate their annotations at import (no `from __future__ import annotations`):
dependency-injector finds the `Provide` markers in the `Annotated` types of the live signatures.
"""

import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any

from dependency_injector.wiring import Provide, inject
from fastapi import Depends
from fastapi.responses import StreamingResponse

from application.answering import AnswerEvent, AnswerQuestion, CitationsEvent, GeneratedAnswer, TokenEvent
from application.ports.generation import GenerationEnd
from application.repositories import ListRepositories
from domain.answers import Citation, cited_sources
from domain.citation_check import CheckSummary, flag_of, invented_lines
from domain.errors import RepochatError
from entrypoints.container import Container
from entrypoints.http.errors import openai_error_responses, status_of
from entrypoints.http.openai_schemas import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    Delta,
    FinishReason,
    Model,
    ModelList,
    ModelNotFound,
    Usage,
)
from entrypoints.http.security import CurrentCaller, v1_router
from entrypoints.http.sse import data, event_stream, started, streamed_alternative
from entrypoints.views import CitationCheckView, CitationView, OpenAIErrorResponse

router = v1_router()


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={
        **streamed_alternative("With `stream: true`: `chat.completion.chunk` objects, then `[DONE]`"),
        **openai_error_responses(400, 404, 429),
    },
)
@inject
async def chat_completions(
    body: ChatCompletionRequest,
    caller: CurrentCaller,
    answer_question: Annotated[AnswerQuestion, Depends(Provide[Container.answer_question])],
    repositories: Annotated[ListRepositories, Depends(Provide[Container.list_repositories])],
) -> ChatCompletion | StreamingResponse:
    """The OpenAI Chat Completions shape, so OpenAI clients and chat UIs can use repochat as a model."""
    named = body.names_a_collection
    collections = {entry.collection for entry in await repositories.execute(None, caller)} if named else ()
    request = body.ask_request(collections, caller)
    if not body.stream:
        return chat_completion(body.model, await answer_question.execute(request))
    events = await started(answer_question.stream(request))
    return event_stream(chat_completion_chunks(body, events))


@router.get("/models", response_model=ModelList, responses=openai_error_responses())
@inject
async def list_models(
    caller: CurrentCaller,
    repositories: Annotated[ListRepositories, Depends(Provide[Container.list_repositories])],
) -> ModelList:
    """`repochat` (the default collection) and `repochat:<collection>` per collection with indexed repositories."""
    return ModelList.of(await repositories.execute(None, caller))


@router.get("/models/{model}", response_model=Model, responses=openai_error_responses(404))
@inject
async def get_model(
    model: str,
    caller: CurrentCaller,
    repositories: Annotated[ListRepositories, Depends(Provide[Container.list_repositories])],
) -> Model:
    found = [m for m in ModelList.of(await repositories.execute(None, caller)).data if m.id == model]
    if not found:
        raise ModelNotFound(f"the model {model!r} does not exist")
    return found[0]


def sources_text(citations: Sequence[Citation], abstained: bool, check: CheckSummary) -> str:
    """The numbered links of the sources the answer cites (all of them when it marks none), each unsupported
    one saying why, then the markers that name no passage; none when abstaining."""
    if abstained or not citations:
        return ""
    lines = [f"[{n}] {c.url or c.path}{flag_of(c)}" for n, c in cited_sources(citations)]
    return "\n\nSources:\n" + "\n".join(lines + invented_lines(check))


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def _finish_reason(end: GenerationEnd) -> FinishReason:
    return "length" if end.truncated else "stop"


def chat_completion(model: str, answer: GeneratedAnswer) -> ChatCompletion:
    sources = sources_text(answer.citations, answer.abstained, answer.citation_check)
    message = AssistantMessage(content=answer.text + sources)
    return ChatCompletion(
        id=_completion_id(),
        created=int(time.time()),
        model=model,
        choices=[Choice(message=message, finish_reason=_finish_reason(answer.end))],
        usage=Usage.of(answer.end.usage),
        citations=CitationView.all_of(answer.citations),
        search_query=answer.search_query,
        abstained=answer.abstained,
        citation_check=CitationCheckView.of(answer.citation_check),
    )


async def chat_completion_chunks(body: ChatCompletionRequest, events: AsyncIterator[AnswerEvent]) -> AsyncIterator[str]:
    """The role, the tokens, the sources, a finish chunk with the citations, [DONE]. An answer that
    breaks off ends with an error chunk instead (OpenAI's clients raise it), never a finish_reason."""
    completion_id, created = _completion_id(), int(time.time())

    def chunk(choices: list[ChunkChoice], **extras: Any) -> str:
        return data(ChatCompletionChunk(id=completion_id, created=created, model=body.model, choices=choices, **extras))

    yield chunk([ChunkChoice(delta=Delta(role="assistant", content=""))])
    try:
        async for event in events:
            if isinstance(event, TokenEvent):
                yield chunk([ChunkChoice(delta=Delta(content=event.text))])
            elif isinstance(event, CitationsEvent):
                if sources := sources_text(event.citations, event.abstained, event.citation_check):
                    yield chunk([ChunkChoice(delta=Delta(content=sources))])
                finish = ChunkChoice(delta=Delta(), finish_reason=_finish_reason(event.end))
                extras = {
                    "citations": CitationView.all_of(event.citations),
                    "search_query": event.search_query,
                    "abstained": event.abstained,
                    "citation_check": CitationCheckView.of(event.citation_check),
                }
                yield chunk([finish], **extras)
                if body.include_usage:
                    yield chunk([], usage=Usage.of(event.end.usage))
    except RepochatError as e:
        yield data(OpenAIErrorResponse.of(e.code, e.message, status_of(e)))
        return
    yield "data: [DONE]\n\n"
