"""The bodies of repochat's own routes, and the HTTP-only answers (the shapes the CLI shares are in views)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from application.answering import AskRequest, CitationsEvent
from domain.access import KEY_NAME, Caller, Role
from domain.answers import ChatTurn
from domain.collections import COLLECTION_PATTERN, DEFAULT_COLLECTION
from domain.limits import MAX_K
from domain.retrieval import RetrievalMode
from entrypoints.views import (
    ABSTAINED,
    CITATION_CHECK,
    GENERATED,
    REF_FILTER,
    SEARCH_QUERY,
    CitationCheckView,
    CitationView,
)

LONE_SURROGATE = re.compile("[\ud800-\udfff]")
"""What JSON can escape (`"\\ud800"`) but is no character: a text holding one cannot be written out again
(not in an error message, a log line or the store), so a body holding one is refused."""


def whole_text(body: Any) -> Any:
    """The raw JSON of a body, refused (422) when one of its strings, keys included, holds a lone surrogate."""
    pending = [body]
    while pending:
        value = pending.pop()
        if isinstance(value, str) and LONE_SURROGATE.search(value):
            raise ValueError("a string holds a lone UTF-16 surrogate (\\ud800-\\udfff unpaired): send valid Unicode")
        if isinstance(value, dict):
            pending.extend(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return body


class StrictBody(BaseModel):
    """Request bodies take JSON's own types (`"3"` is not a number, `true` not a count), valid Unicode only
    (`whole_text`) and only their own fields: a field the body does not have is a 422 naming it, not
    silently ignored."""

    model_config = ConfigDict(strict=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _whole_text(cls, body: Any) -> Any:
        return whole_text(body)


QUESTION_LIMIT = "at most REPOCHAT_MAX_QUESTION_BYTES (16384 by default) UTF-8 bytes, else a 422"


async def single_query_values(request: Request) -> None:
    """A query parameter given more than once is a 422 (else the route would silently take the last)."""
    query = request.query_params
    repeated = sorted({name for name in query if len(query.getlist(name)) > 1})
    if repeated:
        problems = [{"loc": ("query", name), "msg": "given more than once: send it once", "type": "repeated"}
                    for name in repeated]  # fmt: skip
        raise RequestValidationError(problems)


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("it is blank")
    return text


Question = Annotated[
    str,
    Field(min_length=1, json_schema_extra={"pattern": r"\S"}, description=f"not blank; {QUESTION_LIMIT}"),
    AfterValidator(_not_blank),  # what the schema's pattern says, with a message that says it
]


def whole_number(value: object) -> object:
    """`22.0` as 22: JSON Schema's integer is any number without a fraction, whatever its spelling."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


JsonInt = Annotated[int, BeforeValidator(whole_number)]
"""An integer of a strict body that also takes an integral number written with a fraction (`22.0`)."""
Collection = Annotated[
    str,
    Field(
        json_schema_extra={"pattern": COLLECTION_PATTERN},
        description="3-255 letters, digits, `.`, `_` and `-`, starting and ending with a letter or digit, "
        "without `..`, not an IPv4 address; another name is a 400",
    ),
]
"""The schema publishes the rules of `domain.collections`, which the use cases apply (a 400 names them)."""


def collection_filter(description: str) -> Any:
    """A query parameter naming one collection, published with the rules a body's `collection` has."""
    return Query(description=description, json_schema_extra={"pattern": COLLECTION_PATTERN})


class IndexBody(StrictBody):
    source: str = Field(
        description="owner/repo, github:owner/repo@ref, a GitHub URL, or a folder on the server; "
        "not blank (a blank one, or one of no such form, is a 400)",
        json_schema_extra={"minLength": 1, "pattern": r"\S"},
    )
    ref: str | None = Field(
        default=None,
        description="The branch, tag or commit SHA to index (GitHub only), beside the refs of the repository "
        "already indexed; null: the ref the source names, else the default branch",
    )
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    collection: Collection = DEFAULT_COLLECTION


class KeyBody(StrictBody):
    name: str = Field(
        description="What logs and listings call the key: 1-64 letters, digits, `.`, `_` and `-`, starting with a "
        "letter or digit; another name is a 400, a name in use a 409",
        json_schema_extra={"pattern": f"^{KEY_NAME.pattern}$"},
    )
    role: Role = Field(strict=False, description="read, index or admin (README: Team deployment)")
    collections: list[Collection] = Field(default_factory=list, description="The collections it may see; []: every one")
    repositories: list[str] = Field(
        default_factory=list,
        description="Globs of the repository ids it may see (`acme/*`); []: every one",
        json_schema_extra={"items": {"type": "string", "pattern": r"\S"}},
    )


class SearchFilters(StrictBody):
    repository: str | None = Field(default=None, description="Only this repository (an id of `GET /v1/repositories`)")
    ref: str | None = Field(default=None, description=REF_FILTER)


Mode = Annotated[
    RetrievalMode | None,
    Field(
        strict=False, description="how to rank passages; omitted: the server's REPOCHAT_RETRIEVAL (hybrid by default)"
    ),
]


class SearchBody(StrictBody):
    query: Question
    k: JsonInt = Field(5, ge=1, le=MAX_K)
    collection: Collection = DEFAULT_COLLECTION
    filters: SearchFilters = Field(default_factory=SearchFilters)
    mode: Mode = None


class Turn(StrictBody):
    role: Literal["user", "assistant"]
    content: str


class AskBody(StrictBody):
    question: Question
    history: list[Turn] = Field(default_factory=list)
    collection: Collection = DEFAULT_COLLECTION
    k: JsonInt = Field(5, ge=1, le=MAX_K)
    stream: bool = False
    filters: SearchFilters = Field(default_factory=SearchFilters)
    mode: Mode = None

    def request(self, caller: Caller) -> AskRequest:
        history = tuple(ChatTurn(t.role, t.content) for t in self.history)
        filters = self.filters
        return AskRequest(
            self.question,
            history,
            self.collection,
            self.k,
            filters.repository,
            mode=self.mode,
            ref=filters.ref,
            caller=caller,
        )


class StreamedToken(BaseModel):
    """The data of a `token` event of a streamed answer."""

    text: str


class StreamedCitations(BaseModel):
    """The data of the `citations` event, sent once after the last token."""

    citations: list[CitationView]
    generated: bool = Field(description=GENERATED)
    search_query: str = Field(description=SEARCH_QUERY)
    abstained: bool = Field(description=ABSTAINED)
    citation_check: CitationCheckView = Field(description=CITATION_CHECK)

    @classmethod
    def of(cls, event: CitationsEvent) -> StreamedCitations:
        return cls(
            citations=CitationView.all_of(event.citations),
            generated=event.generated,
            search_query=event.search_query,
            abstained=event.abstained,
            citation_check=CitationCheckView.of(event.citation_check),
        )


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str] = Field(description="`ok`, or why a dependency is not reachable, by dependency")
