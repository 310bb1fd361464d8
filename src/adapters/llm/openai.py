"""OpenAIChatGenerator: answers written by a chat model behind an OpenAI-compatible API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import httpx
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from adapters.openai_errors import translate_openai_error
from application.ports import AnswerGenerator
from domain.answers import SYSTEM_PROMPT, ChatTurn, SearchHit, format_sources


class OpenAIChatGenerator(AnswerGenerator):
    def __init__(
        self,
        model: str,
        api_key: str | None,
        base_url: str | None,
        http_client: httpx.AsyncClient,
        timeout: float = 120,
        temperature: float = 0,
    ) -> None:
        # Our own client, opened and closed by the container: langchain's default is cached
        # process-wide, never closed, and breaks once a second event loop uses it.
        self._chat = ChatOpenAI(
            model=model,
            api_key=SecretStr(api_key) if api_key else None,
            base_url=base_url,
            http_async_client=http_client,
            timeout=timeout,
            temperature=temperature,
            max_retries=2,
        )

    @property
    def generative(self) -> bool:
        return True

    async def generate(self, question: str, hits: Sequence[SearchHit], history: Sequence[ChatTurn]) -> str:
        try:
            reply = await self._chat.ainvoke(_messages(question, hits, history))
        except Exception as e:
            raise translate_openai_error(e, "answer generation") from e
        return str(reply.content)

    async def stream(self, question: str, hits: Sequence[SearchHit], history: Sequence[ChatTurn]) -> AsyncIterator[str]:
        try:
            async for piece in self._chat.astream(_messages(question, hits, history)):
                if piece.content:
                    yield str(piece.content)
        except Exception as e:
            raise translate_openai_error(e, "answer generation") from e


def _messages(question: str, hits: Sequence[SearchHit], history: Sequence[ChatTurn]) -> list[BaseMessage]:
    messages: list[BaseMessage] = [SystemMessage(f"{SYSTEM_PROMPT}\n\nSources:\n\n{format_sources(hits)}")]
    for turn in history:
        messages.append(AIMessage(turn.content) if turn.role == "assistant" else HumanMessage(turn.content))
    messages.append(HumanMessage(question))
    return messages
