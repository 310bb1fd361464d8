"""The JSON shapes users see, as pydantic models built from domain objects.

The HTTP API declares them as response models (so /openapi.json describes them) and the CLI's
--json output prints them, so each shape has one typed definition. Where a domain dataclass
already is the shape (Progress, IndexResult with its SkipCounts) it is the field's type itself,
as in adapters.domain_json.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Generic, Self, TypeVar, get_args

from pydantic import BaseModel, Field, RootModel, field_validator

from application.answering import GeneratedAnswer
from application.repositories import IndexedRepository
from application.sync import QueuedSync
from domain.answers import Citation, SearchHit
from domain.citation_check import CheckSummary
from domain.evaluation import EvalReport
from domain.jobs import IndexResult, Job, JobState, Progress
from domain.retrieval import RetrievalMode
from domain.sync import SyncResult, SyncTrigger

Item = TypeVar("Item")


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, machine-readable: invalid_input, not_found, unauthenticated, ...")
    message: str = Field(description="what went wrong, for people")


class ErrorResponse(BaseModel):
    """Every error answer: `{"error": {"code": ..., "message": ...}}`."""

    error: ErrorDetail

    @classmethod
    def of(cls, code: str, message: str) -> ErrorResponse:
        return cls(error=ErrorDetail(code=code, message=message))


OPENAI_ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


class OpenAIErrorDetail(ErrorDetail):
    type: str = Field(description="OpenAI's error type: invalid_request_error, authentication_error, server_error, ...")
    param: str | None = None


class OpenAIErrorResponse(BaseModel):
    """The error answers of the OpenAI-shaped routes: repochat's error body with OpenAI's `type` and `param`,
    so OpenAI clients raise their usual exceptions (NotFoundError for an unknown model)."""

    error: OpenAIErrorDetail

    @classmethod
    def of(cls, code: str, message: str, status: int) -> OpenAIErrorResponse:
        default = "server_error" if status >= 500 else "invalid_request_error"
        return cls(error=OpenAIErrorDetail(code=code, message=message, type=OPENAI_ERROR_TYPES.get(status, default)))


class ListView(BaseModel, Generic[Item]):
    """A response that is one list under a name of its own (`jobs`, `repositories`, ...): its one field,
    whose views are each built by the view's `of` from one domain object."""

    @classmethod
    def of(cls, items: Iterable[Item]) -> Self:
        [(name, field)] = cls.model_fields.items()
        [view] = get_args(field.annotation)
        return cls.model_validate({name: [view.of(item) for item in items]})


class JobView(BaseModel):
    id: str
    repository: str
    collection: str
    ref: str | None = Field(description="The branch, tag or commit SHA the job indexes; null for the default branch")
    state: JobState
    stage: str = Field(description="what the job is doing now, for people")
    progress: Progress
    result: IndexResult | None = Field(description="set once the job succeeded")
    error: str | None
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, job: Job) -> JobView:
        return cls(
            id=job.id,
            repository=job.repository,
            collection=job.request.collection,
            ref=job.request.source.ref,
            state=job.state,
            stage=job.stage,
            progress=job.progress,
            result=job.result,
            error=job.error,
            created_at=job.created_at,
            updated_at=job.updated_at,
        )


class JobList(ListView[Job]):
    jobs: list[JobView]


class IndexAccepted(BaseModel):
    """The answer to an index request: the job queued (or the unfinished one it joined)."""

    job_id: str
    repository: str
    job: JobView

    @classmethod
    def of(cls, job: Job) -> IndexAccepted:
        return cls(job_id=job.id, repository=job.repository, job=JobView.of(job))


class HitView(BaseModel):
    """A passage found: where it is, permanently, and how it ranked."""

    text: str
    path: str
    repository: str
    commit: str
    start_line: int
    end_line: int
    url: str = Field(description="a permanent link to the cited lines at the indexed commit")
    score: float = Field(
        description="the ranking score of the search's mode, rounded to 4 places, comparable within one answer only: "
        "cosine similarity (dense), BM25 (keyword), reciprocal rank fusion (hybrid)"
    )
    similarity: float | None = Field(
        description="cosine similarity of query and passage (-1 to 1), when the dense leg scored it"
    )
    keyword_score: float | None = Field(description="BM25 score of the passage, when the keyword leg matched it")

    @field_validator("score", "similarity", "keyword_score")
    @classmethod
    def _four_places(cls, value: float | None) -> float | None:
        return None if value is None else round(value, 4)

    @classmethod
    def of(cls, citation: Citation) -> Self:
        """The view of a citation (a CitationView's fields too are the citation's own)."""
        return cls.model_validate(citation, from_attributes=True)


class CitationView(HitView):
    used: bool = Field(
        description="whether the answer cites this passage (a [n] marker of a generated answer, "
        "a passage the extractive answer quotes); false for every passage of an abstained answer, "
        "and for one whose every marker REPOCHAT_UNSUPPORTED_CITATIONS=drop removed"
    )
    supported: bool | None = Field(
        description="whether the passage holds what the sentences citing it state (their identifiers, numbers, "
        "paths and quoted strings; with the local model, a similar enough meaning); true for every passage an "
        "extractive answer quotes; null when the answer does not cite it"
    )
    reason: str = Field(description="why it is supported or not, for people; empty when not cited")

    @classmethod
    def all_of(cls, citations: Sequence[Citation]) -> list[CitationView]:
        return [cls.of(citation) for citation in citations]


class SearchResponse(BaseModel):
    mode: RetrievalMode = Field(description="how the passages were ranked: the request's mode or the configured one")
    hits: list[HitView]

    @classmethod
    def of(cls, mode: RetrievalMode, hits: Sequence[SearchHit]) -> SearchResponse:
        return cls(mode=mode, hits=[HitView.of(Citation.of(hit)) for hit in hits])


GENERATED = "whether a language model wrote the answer: false for the extractive answer (it quotes) and when abstaining"
SEARCH_QUERY = "what was searched: the question, or for a follow-up its standalone rewrite by the chat model"
ABSTAINED = (
    "true when the passages found were too weak to answer from (none, or the best similarity under "
    "REPOCHAT_ABSTAIN_BELOW): the answer says so, and the citations are the weak candidates, none used"
)


class CitationCheckView(BaseModel):
    """What checking the answer's citations found, counted by the numbers its markers name."""

    cited: int = Field(description="distinct numbers the answer's [n] markers name (invented ones included)")
    supported: int = Field(description="cited passages that hold what every sentence citing them states")
    unsupported: int = Field(description="cited numbers that are not supported: see each citation's `reason`")
    invented: list[int] = Field(description="numbers named by markers that are no passage of this answer")

    @classmethod
    def of(cls, summary: CheckSummary) -> CitationCheckView:
        return cls.model_validate(summary, from_attributes=True)


CITATION_CHECK = (
    "what the check of the citations found in the answer as generated (REPOCHAT_UNSUPPORTED_CITATIONS=drop "
    "then removes the unsupported markers); all zero when abstaining"
)


class AnswerView(BaseModel):
    answer: str
    generated: bool = Field(description=GENERATED)
    search_query: str = Field(description=SEARCH_QUERY)
    abstained: bool = Field(description=ABSTAINED)
    citations: list[CitationView]
    citation_check: CitationCheckView = Field(description=CITATION_CHECK)

    @classmethod
    def of(cls, answer: GeneratedAnswer) -> AnswerView:
        return cls(
            answer=answer.text,
            generated=answer.generated,
            search_query=answer.search_query,
            abstained=answer.abstained,
            citations=CitationView.all_of(answer.citations),
            citation_check=CitationCheckView.of(answer.citation_check),
        )


class SyncView(BaseModel):
    """How the ref's syncs went: the scheduled ones (REPOCHAT_SYNC_INTERVAL) and those push webhooks asked for.

    Index requests made by hand are not syncs. Times are ISO 8601, UTC; null when not known."""

    last_sync_at: str | None = Field(default=None, description="When the last sync finished")
    last_result: SyncResult | None = Field(
        default=None,
        description="`updated` (files changed), `unchanged` or `failed`; null before the first sync finished",
    )
    last_job_id: str | None = Field(
        default=None, description="The index job of the last sync (none if it was never queued)"
    )
    last_error: str | None = Field(default=None, description="Why the last sync failed; null after a sync that did not")
    consecutive_failures: int = Field(default=0, description="Failed syncs in a row: the schedule backs off after each")
    syncing_job_id: str | None = Field(default=None, description="The job of a sync queued or running now")
    last_attempt_at: str | None = Field(default=None, description="When the last sync was asked for")
    last_trigger: SyncTrigger | None = Field(default=None, description="What asked for it: `schedule` or `webhook`")
    next_sync_at: str | None = Field(
        default=None,
        description="When the schedule syncs the ref next (later while it backs off); null without a schedule",
    )

    @classmethod
    def of(cls, entry: IndexedRepository) -> SyncView:
        status = entry.sync
        if status is None:
            return cls(next_sync_at=entry.next_sync_at)
        return cls(
            last_sync_at=status.last_sync_at or None,
            last_result=status.last_result,
            last_job_id=status.last_job_id,
            last_error=status.last_error,
            consecutive_failures=status.consecutive_failures,
            syncing_job_id=status.pending_job_id,
            last_attempt_at=status.last_attempt_at or None,
            last_trigger=status.last_trigger,
            next_sync_at=entry.next_sync_at,
        )


REF_FILTER = (
    "The branch, tag or commit SHA to search each repository at, as `GET /v1/repositories` lists them "
    "(`HEAD`: the default branch; a hex prefix of at least 7 digits also matches an indexed commit). "
    "Omitted or null: each repository at its default branch, else at its ref indexed last. "
    "A ref that no repository searched is indexed at is a 404 whose message names the refs indexed."
)
"""What a search's, an answer's and a chat's `ref` means (the HTTP API and the MCP tools say the same)."""


class RepositoryView(BaseModel):
    """One ref of a repository in one collection: each indexed ref is listed, and searched, on its own."""

    id: str
    collection: str
    source: str
    ref: str | None = Field(description="The indexed branch, tag or commit SHA; null for the default branch")
    commit: str = Field(description="The commit the ref pointed at when it was indexed (citations link to it)")
    searched_by_default: bool = Field(
        description="Whether a search or question naming no ref reads this ref of the repository: "
        "its default branch, else (no default branch indexed) its ref indexed last"
    )
    files: int
    chunks: int
    indexed_at: str
    web_url: str
    sync: SyncView

    @classmethod
    def of(cls, entry: IndexedRepository) -> RepositoryView:
        manifest = entry.manifest
        return cls(
            id=manifest.repository,
            collection=entry.collection,
            source=manifest.source,
            ref=manifest.ref,
            commit=manifest.commit,
            searched_by_default=entry.searched_by_default,
            files=len(manifest.files),
            chunks=manifest.chunk_total,
            indexed_at=manifest.indexed_at,
            web_url=manifest.web_url,
            sync=SyncView.of(entry),
        )


class RepositoryList(ListView[IndexedRepository]):
    repositories: list[RepositoryView] = Field(description="One entry per (collection, repository, ref)")


class RepositoryDetail(BaseModel):
    """A repository's entries in every collection that holds it: one per collection and ref."""

    repository: str
    collections: list[RepositoryView] = Field(description="One entry per (collection, ref)")

    @classmethod
    def of(cls, repository: str, entries: Sequence[IndexedRepository]) -> RepositoryDetail:
        return cls(repository=repository, collections=[RepositoryView.of(entry) for entry in entries])


class Forgotten(ListView[IndexedRepository]):
    forgotten: list[RepositoryView] = Field(description="The refs forgotten, one entry per (collection, ref)")


class QueuedSyncView(BaseModel):
    """A sync a push webhook queued: the index job of one indexed ref (or the unfinished one it joined)."""

    job_id: str
    repository: str
    collection: str
    ref: str | None = Field(description="The indexed ref; null for the default branch")
    state: JobState

    @classmethod
    def of(cls, queued: QueuedSync) -> QueuedSyncView:
        key, job = queued.key, queued.job
        return cls(job_id=job.id, repository=key.repository, collection=key.collection, ref=key.ref, state=job.state)


class WebhookAnswer(BaseModel):
    """What a GitHub webhook delivery did."""

    event: str = Field(description="The X-GitHub-Event of the delivery")
    delivery: str | None = Field(description="The X-GitHub-Delivery id, for GitHub's list of recent deliveries")
    queued: list[QueuedSyncView] = Field(description="The syncs queued; empty when the delivery asked for none")
    message: str


class EvaluationView(RootModel[EvalReport]):
    """An evaluation's figures (`domain.evaluation.EvalReport`), to 4 decimals."""

    @classmethod
    def of(cls, report: EvalReport) -> EvaluationView:
        return cls(report.rounded(4))
