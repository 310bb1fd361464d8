"""Ports: writing answers and rewriting follow-up questions with (or without) a language model."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from domain.answers import ChatTurn, SearchHit
from domain.follow_ups import SearchQuery


@dataclass(frozen=True)
class GenerationOptions:
    """How the caller wants the answer written; a generator honours what it can (the extractive one: none)."""

    instructions: str = ""
    """The caller's own system instructions, given to the model after repochat's."""
    temperature: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class TokenUsage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class GenerationEnd:
    """How a generation ended: what it cost (None when the model did not say), and whether max_tokens cut it."""

    usage: TokenUsage | None = None
    truncated: bool = False


@dataclass(frozen=True)
class Generated:
    text: str
    end: GenerationEnd = field(default_factory=GenerationEnd)


NO_OPTIONS = GenerationOptions()


@dataclass(frozen=True)
class GenerationRequest:
    """What an answer is written from: the question, the passages found for it (cited as [n], in
    this order), the conversation before it, and how the caller wants it written."""

    question: str
    hits: tuple[SearchHit, ...]
    history: tuple[ChatTurn, ...] = ()
    options: GenerationOptions = NO_OPTIONS


class AnswerGenerator(Protocol):
    @property
    def generative(self) -> bool: ...

    async def generate(self, request: GenerationRequest) -> Generated: ...

    def stream(self, request: GenerationRequest) -> AsyncIterator[str | GenerationEnd]:
        """The answer's text in pieces, then one GenerationEnd; a stream the model broke off raises instead."""
        ...


class QueryRewriter(Protocol):
    """Turns a follow-up question and its conversation into what is searched (domain.follow_ups)."""

    async def rewrite(self, question: str, history: Sequence[ChatTurn]) -> SearchQuery: ...
