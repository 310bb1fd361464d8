"""The request and response shapes of the OpenAI-compatible routes (/v1/chat/completions, /v1/models),
and the translation of a chat request into repochat's question: the last user message is the question,
earlier turns the history, system and developer messages the caller's instructions, and `model` names the
collection. docs/openai-compatibility.md says what is honoured, what is added and what is ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    field_serializer,
    model_serializer,
    model_validator,
)
from pydantic_core.core_schema import SerializerFunctionWrapHandler

from application.answering import AskRequest
from application.ports.generation import GenerationOptions, TokenUsage
from application.repositories import IndexedRepository
from domain.access import Caller
from domain.answers import ChatTurn
from domain.collections import DEFAULT_COLLECTION
from domain.errors import InvalidInput, NotFound
from domain.retrieval import RetrievalMode
from entrypoints.http.schemas import whole_number, whole_text
from entrypoints.views import ABSTAINED, CITATION_CHECK, REF_FILTER, SEARCH_QUERY, CitationCheckView, CitationView

MODEL = "repochat"
INSTRUCTION_ROLES = ("system", "developer")
FinishReason = Literal["stop", "length"]
CHUNK_EXTRAS = ("citations", "search_query", "abstained", "citation_check", "usage")
"""Fields of a chunk left out where they are not set: only the finish chunk (or the usage chunk) has them."""


TokenCount = Annotated[int, Field(ge=1), BeforeValidator(whole_number)]
"""A count of tokens: the bound first, so the published schema carries it as `minimum`."""


class ModelNotFound(NotFound):
    code = "model_not_found"


class ChatMessage(BaseModel):
    model_config = ConfigDict(strict=True)

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(str(part.get("text", "")) for part in self.content if part.get("type") == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    include_usage: StrictBool = False


class ChatCompletionRequest(BaseModel):
    """The fields of OpenAI's request repochat honours, and repochat's own filters (`repository`, `ref`,
    `mode`: with OpenAI's clients, send them as `extra_body`); the others (n, top_p, user, ...) are ignored.
    Valid Unicode only, ignored fields included (`whole_text`)."""

    model_config = ConfigDict(strict=True)

    @model_validator(mode="before")
    @classmethod
    def _whole_text(cls, body: Any) -> Any:
        return whole_text(body)

    model: str = MODEL
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: TokenCount | None = None
    max_completion_tokens: TokenCount | None = Field(None, description="the newer name of max_tokens; wins over it")
    stop: str | list[str] | None = Field(None, description="up to 4 sequences where the model stops")
    repository: str | None = Field(
        None, description="repochat's own (`extra_body` of OpenAI's clients): only this repository, as /v1/search"
    )
    ref: str | None = Field(None, description=f"repochat's own (`extra_body` of OpenAI's clients). {REF_FILTER}")
    mode: RetrievalMode | None = Field(
        None,
        strict=False,
        description="repochat's own (`extra_body` of OpenAI's clients): how to rank passages; "
        "omitted: the server's REPOCHAT_RETRIEVAL (hybrid by default)",
    )

    def ask_request(self, collections: Iterable[str], caller: Caller) -> AskRequest:
        """The question, history and options; ModelNotFound for a model that names no collection."""
        turns = [m for m in self.messages if m.role in ("user", "assistant")]
        if not turns or turns[-1].role != "user" or not turns[-1].text().strip():
            raise InvalidInput("the last message must be a non-empty user message")
        question = turns[-1].text()
        history = tuple(ChatTurn(m.role, m.text()) for m in turns[:-1])
        collection = collection_of(self.model, collections)
        return AskRequest(
            question,
            history,
            collection,
            repository=self.repository,
            options=self.options(),
            mode=self.mode,
            ref=self.ref,
            caller=caller,
        )

    def options(self) -> GenerationOptions:
        instructions = "\n\n".join(m.text() for m in self.messages if m.role in INSTRUCTION_ROLES and m.text())
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        if len(stop) > 4:
            raise InvalidInput("stop: at most 4 sequences")
        max_tokens = self.max_completion_tokens or self.max_tokens
        return GenerationOptions(instructions, self.temperature, max_tokens, stop)

    @property
    def names_a_collection(self) -> bool:
        """Whether the model is `repochat:<collection>`, which must name a collection with indexed repositories."""
        return self.model != MODEL

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage


def collection_of(model: str, collections: Iterable[str]) -> str:
    """`repochat` is the default collection; `repochat:<c>` a collection that holds indexed repositories."""
    if model == MODEL:
        return DEFAULT_COLLECTION
    prefix, _, collection = model.partition(":")
    if prefix != MODEL:
        raise ModelNotFound(f"the model {model!r} does not exist: use {MODEL!r} or '{MODEL}:<collection>'")
    if collection not in set(collections):
        raise ModelNotFound(
            f"the model {model!r} does not exist: no indexed repository is in collection {collection!r}"
        )
    return collection


# -- /v1/models


class Model(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = Field(description="when the collection's first repository was indexed (Unix seconds)")
    owned_by: str = MODEL


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]

    @classmethod
    def of(cls, entries: Sequence[IndexedRepository]) -> ModelList:
        """`repochat`, then `repochat:<collection>` for each collection holding indexed repositories."""
        created: dict[str, int] = {}
        for entry in entries:
            indexed = _unix_seconds(entry.manifest.indexed_at)
            created[entry.collection] = min(created.get(entry.collection, indexed), indexed)
        default = Model(id=MODEL, created=created.get(DEFAULT_COLLECTION, 0))
        return cls(data=[default, *(Model(id=f"{MODEL}:{c}", created=t) for c, t in sorted(created.items()))])


def _unix_seconds(timestamp: str) -> int:
    """An ISO 8601 time in Unix seconds; 0 when there is none (manifests of old records)."""
    try:
        return int(datetime.fromisoformat(timestamp).timestamp())
    except ValueError:
        return 0


# -- the completion


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: FinishReason = Field(description="`length` when max_tokens cut the answer")


class Usage(BaseModel):
    """Tokens the upstream model reported; zeros when it did not (or no model wrote the answer)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    @classmethod
    def of(cls, usage: TokenUsage | None) -> Usage:
        if usage is None:
            return cls()
        return cls(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens,
        )


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    citations: list[CitationView] = Field(
        description="the passages found, as /v1/ask gives them: `used` if cited, `supported` and `reason` "
        "as the check found them (the Sources footer of the message says the same in text)"
    )
    search_query: str = Field(description=SEARCH_QUERY)
    abstained: bool = Field(description=ABSTAINED)
    citation_check: CitationCheckView = Field(description=CITATION_CHECK)


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta = Field(description="only the fields this chunk adds: the role first, then content")
    finish_reason: FinishReason | None = None

    @field_serializer("delta")
    def _only_what_the_chunk_adds(self, delta: Delta) -> dict[str, Any]:
        return delta.model_dump(exclude_none=True)


class ChatCompletionChunk(BaseModel):
    """One `data:` line of a streamed completion; the last one with a finish_reason carries the citations,
    and with `stream_options.include_usage` a chunk with no choices and the usage follows it."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    citations: list[CitationView] | None = None
    search_query: str | None = None
    abstained: bool | None = None
    citation_check: CitationCheckView | None = None
    usage: Usage | None = None

    @model_serializer(mode="wrap")
    def _without_absent_extras(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {name: value for name, value in data.items() if value is not None or name not in CHUNK_EXTRAS}
