"""/v1/ask: an answer with citations, whole or streamed as server-sent events.

Routes evaluate their annotations at import (no `from __future__ import annotations`):
dependency-injector finds the `Provide` markers in the `Annotated` types of the live signatures.
"""

from collections.abc import AsyncIterator
from typing import Annotated

from dependency_injector.wiring import Provide, inject
from fastapi import Depends
from fastapi.responses import StreamingResponse

from application.answering import AnswerEvent, AnswerQuestion, TokenEvent
from domain.errors import RepochatError
from entrypoints.container import Container
from entrypoints.http.errors import error_responses
from entrypoints.http.schemas import AskBody, StreamedCitations, StreamedToken
from entrypoints.http.security import CurrentCaller, v1_router
from entrypoints.http.sse import event, event_stream, started, streamed_alternative
from entrypoints.views import AnswerView, ErrorResponse

router = v1_router()


@router.post(
    "/ask",
    response_model=AnswerView,
    responses={
        **streamed_alternative(
            "With `stream: true`: `token` events, then one `citations` event "
            "(`{citations, generated, search_query, abstained, citation_check}`), then `done`"
        ),
        **error_responses(400, 404, 429),
    },
)
@inject
async def ask(
    body: AskBody,
    caller: CurrentCaller,
    answer_question: Annotated[AnswerQuestion, Depends(Provide[Container.answer_question])],
) -> AnswerView | StreamingResponse:
    request = body.request(caller)
    if not body.stream:
        return AnswerView.of(await answer_question.execute(request))
    events = await started(answer_question.stream(request))
    return event_stream(_answer_events(events))


async def _answer_events(events: AsyncIterator[AnswerEvent]) -> AsyncIterator[str]:
    """token events, then one citations event, then done; an answer that breaks off ends with an
    error event instead, with neither citations nor done."""
    try:
        async for each in events:
            if isinstance(each, TokenEvent):
                yield event("token", StreamedToken(text=each.text))
            else:
                yield event("citations", StreamedCitations.of(each))
        yield event("done", "{}")
    except RepochatError as e:
        yield event("error", ErrorResponse.of(e.code, e.message))
