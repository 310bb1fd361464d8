"""A chat model behind an OpenAI-compatible API: OpenAIChatGenerator writes answers, and
OpenAIQueryRewriter (from `OpenAIChatGenerator.query_rewriter`, on the same client) turns
follow-up questions into standalone search queries."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
from langchain_core.messages import AIMessage, BaseMessage, BaseMessageChunk, HumanMessage, SystemMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_openai import ChatOpenAI

from adapters.openai_client import client_options
from adapters.openai_errors import translate_openai_error
from application.ports.generation import (
    AnswerGenerator,
    Generated,
    GenerationEnd,
    GenerationOptions,
    GenerationRequest,
    QueryRewriter,
    TokenUsage,
)
from domain.answers import SYSTEM_PROMPT, ChatTurn, format_sources
from domain.errors import UpstreamUnavailable
from domain.follow_ups import REWRITE_PROMPT, SearchQuery, rewrite_request, standalone_query

ACTION = "answer generation"
BROKE_OFF = "the OpenAI-compatible API broke off the answer's stream before it was finished"
REWRITE_ACTION = "rewriting a follow-up question"
MAX_REWRITE_TOKENS = 200


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
        # stream_usage: ask for the usage chunk OpenAI sends last (servers that lack it send none).
        self._chat = ChatOpenAI(
            **client_options(model, api_key, base_url, http_client, timeout),
            temperature=temperature,
            max_retries=2,
            stream_usage=True,
        )

    @property
    def generative(self) -> bool:
        return True

    def query_rewriter(self) -> OpenAIQueryRewriter:
        """The rewriter of follow-up questions, on this generator's model and client."""
        return OpenAIQueryRewriter(self._chat)

    async def generate(self, request: GenerationRequest) -> Generated:
        try:
            reply = await self._chat.ainvoke(_messages(request), **_sampling(request.options))
        except Exception as e:
            raise translate_openai_error(e, ACTION) from e
        end = GenerationEnd(_usage(reply.usage_metadata), reply.response_metadata.get("finish_reason") == "length")
        return Generated(str(reply.content), end)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str | GenerationEnd]:
        """Pieces of text, then how it ended. A stream that ends without a finish reason (the
        connection closed early, a proxy cut it) raises UpstreamUnavailable: it is not a whole answer."""
        finish_reason: str | None = None
        usage: TokenUsage | None = None
        streamed = False
        try:
            async for piece in self._chat.astream(_messages(request), **_sampling(request.options)):
                if piece.content:
                    streamed = True
                    yield str(piece.content)
                finish_reason = piece.response_metadata.get("finish_reason") or finish_reason
                usage = _usage(_usage_metadata(piece)) or usage
        except Exception as e:
            error = translate_openai_error(e, ACTION)
            if streamed and isinstance(error, UpstreamUnavailable):
                raise UpstreamUnavailable(f"{BROKE_OFF} ({error.message})") from e
            raise error from e
        if finish_reason is None:
            raise UpstreamUnavailable(BROKE_OFF)
        yield GenerationEnd(usage, finish_reason == "length")


class OpenAIQueryRewriter(QueryRewriter):
    """Asks the chat model (temperature 0) for the follow-up question as one standalone query."""

    def __init__(self, chat: ChatOpenAI) -> None:
        self._chat = chat

    async def rewrite(self, question: str, history: Sequence[ChatTurn]) -> SearchQuery:
        messages = [SystemMessage(REWRITE_PROMPT), HumanMessage(rewrite_request(question, history))]
        try:
            reply = await self._chat.ainvoke(messages, temperature=0, max_tokens=MAX_REWRITE_TOKENS)
        except Exception as e:
            raise translate_openai_error(e, REWRITE_ACTION) from e
        query = standalone_query(str(reply.content))
        if query is None:
            raise UpstreamUnavailable(f"the chat model replied with no search query when {REWRITE_ACTION}")
        return SearchQuery(query)


def _messages(request: GenerationRequest) -> list[BaseMessage]:
    """One system message (some models accept no other): repochat's instructions, the caller's, the sources."""
    own = request.options.instructions
    instructions = f"{SYSTEM_PROMPT}\n\n{own}" if own else SYSTEM_PROMPT
    messages: list[BaseMessage] = [SystemMessage(f"{instructions}\n\nSources:\n\n{format_sources(request.hits)}")]
    for turn in request.history:
        messages.append(AIMessage(turn.content) if turn.role == "assistant" else HumanMessage(turn.content))
    messages.append(HumanMessage(request.question))
    return messages


def _sampling(options: GenerationOptions) -> dict[str, Any]:
    """The options the caller set, as ChatOpenAI's call arguments; unset ones keep the model's defaults."""
    arguments: dict[str, Any] = {"temperature": options.temperature, "max_tokens": options.max_tokens}
    arguments = {name: value for name, value in arguments.items() if value is not None}
    return arguments | ({"stop": list(options.stop)} if options.stop else {})


def _usage_metadata(piece: BaseMessageChunk) -> UsageMetadata | None:
    return piece.usage_metadata if isinstance(piece, AIMessage) else None


def _usage(metadata: UsageMetadata | None) -> TokenUsage | None:
    if not metadata:
        return None
    return TokenUsage(metadata["input_tokens"], metadata["output_tokens"])
