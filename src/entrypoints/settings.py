"""Configuration from the environment (and a .env file): REPOCHAT_* plus the ecosystem's names."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.sources.github.archive import DEFAULT_MAX_ARCHIVE_BYTES, DEFAULT_MAX_ARCHIVE_FILES
from domain.citation_check import UnsupportedCitations
from domain.errors import InvalidInput
from domain.limits import DEFAULT_MAX_HISTORY_BYTES, DEFAULT_MAX_QUESTION_BYTES, InputLimits
from domain.passage_kinds import KindWeights
from domain.retrieval import RetrievalMode, RetrievalPolicy
from domain.sync import SyncSchedule

ABSTAIN_BELOW_BY_EMBEDDINGS: dict[str, float | None] = {"local": 0.43, "openai": None, "hashing": None}
"""REPOCHAT_ABSTAIN_BELOW when unset: similarities are on each embedding model's own scale, so the
threshold is the one measured for the model (README, "Follow-up questions and abstaining"); None
where none was measured: abstain only when nothing is found."""

CITATION_CLOSE_ENOUGH_BY_EMBEDDINGS: dict[str, float | None] = {"local": 0.25, "openai": None, "hashing": None}
"""The cosine similarity a cited sentence needs to the passage it cites, per embedding model, measured
with benchmarks/citations.py (README, "How citations are checked"); None where none was measured (or the
vectors are not semantic, as hashing's): citations are checked by what they state only."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REPOCHAT_", env_file=".env", extra="ignore")

    data_dir: Path = Path(".repochat")
    keyword_index_dir: Path | None = None
    """Where this process keeps its keyword index (a folder per process that searches: each API replica
    needs its own); unset: `keyword/` in the data folder."""
    keyword_vectors: bool | None = None
    """Whether the keyword index keeps each chunk's vector, so a hybrid search scores the keyword leg's hits
    without asking Chroma (less CPU per search; a catch-up reads the vectors too, which over a Chroma
    server's JSON costs a new replica a third of its catch-up speed); unset: with embedded Chroma only."""
    disk_reserve_mb: int = Field(default=128, ge=0)
    """Embedded Chroma: index jobs stop writing while less than this is free on the data folder's disk."""
    embeddings: Literal["local", "openai", "hashing"] = "local"
    embedding_model: str = "text-embedding-3-small"
    llm: Literal["openai", "extractive"] | None = None
    chat_model: str = "gpt-4o-mini"
    chroma_url: str | None = None
    job_queue: Literal["inprocess", "hatchet"] = "inprocess"
    github_api_url: str = "https://api.github.com"
    github_web_url: str = "https://github.com"
    """Where citations link to; change it with github_api_url for GitHub Enterprise."""
    archive_max_files: int = Field(default=DEFAULT_MAX_ARCHIVE_FILES, ge=1)
    """GitHub: the most files a repository's archive may hold; a larger one fails its job with a message."""
    archive_max_bytes: int = Field(default=DEFAULT_MAX_ARCHIVE_BYTES, ge=1)
    """GitHub: the most bytes an archive may expand to; the whole budget of one listed from a truncated
    tree (else twice what the tree listing promises, plus slack, up to this)."""
    api_keys: str | None = None
    """Admin keys, comma-separated, beside the keys `repochat keys create` stores."""
    key_cache_seconds: float = Field(default=5.0, ge=0)
    """How long each process keeps the stored keys before reading them again: a key revoked on one
    replica is refused by every other within this time."""
    github_permissions: bool = False
    """A caller authenticated as a GitHub user (its token, or a GitHub sign-in) sees what GitHub lets it read."""
    github_permissions_ttl: float = Field(default=300.0, ge=0)
    """Seconds GitHub's answer to "may this user read that repository" is kept (per user token)."""
    github_oauth_client_id: str | None = None
    github_oauth_client_secret: SecretStr | None = None
    """The OAuth app of the chat page's "Sign in with GitHub" (with github_permissions)."""
    mcp_read_only: bool = False
    """MCP: leave out the tools that start and follow index jobs (index_repository, job_status)."""
    embedding_batches_per_minute: int = Field(default=600, ge=1)
    """Hatchet: batch tasks (each embeds up to index_files_per_task files) started per minute, all workers together."""
    index_files_per_task: int = Field(default=32, ge=1)
    """Hatchet: files per batch task a job fans out to the workers."""
    index_jobs_in_parallel: int = Field(default=4, ge=1)
    """Hatchet: index jobs running at once, all workers together; each worker needs more slots than this."""
    allowed_hosts: str | None = None
    """Without API keys: host names besides localhost, 127.0.0.1 and ::1 that requests may address
    (comma-separated); `*`: any."""
    local_roots: str | None = None
    """Folders the API and the MCP tools may index, separated by os.pathsep (`:`); unset: none."""
    local_allow_any_files: bool = False
    """Let the API's `include` globs reach files outside the default kinds of local folders (`*`)."""

    retrieval: RetrievalMode = RetrievalMode.HYBRID
    """How search ranks passages by default (a request's `mode` overrides it)."""
    rrf_k: int = Field(default=RetrievalPolicy.rrf_k, ge=1)
    """Reciprocal rank fusion's constant: a hit at rank r of a leg adds weight / (rrf_k + r)."""
    dense_weight: float = Field(default=1.0, ge=0)
    keyword_weight: float = Field(default=1.0, ge=0)
    max_hits_per_file: int = Field(default=2, ge=0)
    """At most this many hits of one search come from one file; 0: no limit."""
    kind_weights: str | None = None
    """`test=0.5,docs=1`: hybrid scores of passages of these kinds are multiplied by these when the question
    does not ask for the kind (domain.passage_kinds); unset kinds keep their default."""
    abstain_below: float | None = Field(default=None, ge=-1, le=1)
    """Answers abstain when the best dense similarity of the passages found is under this; unset: the
    embedder's measured threshold (ABSTAIN_BELOW_BY_EMBEDDINGS)."""

    unsupported_citations: UnsupportedCitations = UnsupportedCitations.FLAG
    """What answers do with citations whose passage does not hold what the sentence states: `flag`
    marks them (supported: false, with the reason), `drop` removes their markers from the answer."""

    max_question_bytes: int = Field(default=DEFAULT_MAX_QUESTION_BYTES, ge=1)
    """The longest question (or search query) accepted, in UTF-8 bytes, by every entrypoint."""
    max_history_bytes: int = Field(default=DEFAULT_MAX_HISTORY_BYTES, ge=0)
    """The most UTF-8 bytes the earlier turns of a question hold together, by every entrypoint."""
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    """The largest request body accepted, in bytes: larger ones are a 413 (GitHub's webhooks may send more)."""

    sync_interval: str | None = None
    """Re-sync every indexed ref this often (`30m`, `1h`, `1d`; see domain.sync); unset: no schedule."""
    github_webhook_secret: SecretStr | None = None
    """The secret GitHub signs push webhooks with; unset: POST /v1/webhooks/github answers 404."""

    openai_api_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(default=None, validation_alias="OPENAI_BASE_URL")
    github_token: SecretStr | None = Field(default=None, validation_alias="GITHUB_TOKEN")

    @field_validator("sync_interval")
    @classmethod
    def _interval_parses(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            SyncSchedule.every(value)
        except InvalidInput as e:
            raise ValueError(e.message) from e
        return value

    @field_validator("kind_weights")
    @classmethod
    def _kind_weights_parse(cls, value: str | None) -> str | None:
        try:
            KindWeights.parse(value or "")
        except InvalidInput as e:
            raise ValueError(e.message) from e
        return value

    @model_validator(mode="after")
    def _fusion_has_weight(self) -> Settings:
        if self.dense_weight == 0 and self.keyword_weight == 0:
            raise ValueError("REPOCHAT_DENSE_WEIGHT and REPOCHAT_KEYWORD_WEIGHT cannot both be 0")
        return self

    @model_validator(mode="after")
    def _hatchet_can_schedule(self) -> Settings:
        """Hatchet runs the schedule as a cron expression: refuse an interval none can say at start."""
        if self.job_queue == "hatchet" and self.sync_schedule is not None:
            try:
                self.sync_schedule.cron()
            except InvalidInput as e:
                raise ValueError(f"REPOCHAT_SYNC_INTERVAL with REPOCHAT_JOB_QUEUE=hatchet: {e.message}") from e
        return self

    @model_validator(mode="after")
    def _sign_in_is_whole(self) -> Settings:
        """GitHub sign-in needs both halves of the OAuth app, and the permissions it signs in to."""
        if bool(self.github_oauth_client_id) != bool(self.github_oauth_client_secret):
            raise ValueError(
                "REPOCHAT_GITHUB_OAUTH_CLIENT_ID and REPOCHAT_GITHUB_OAUTH_CLIENT_SECRET are set together or not at all"
            )
        if self.github_oauth_client_id and not self.github_permissions:
            raise ValueError("GitHub sign-in (REPOCHAT_GITHUB_OAUTH_CLIENT_ID) needs REPOCHAT_GITHUB_PERMISSIONS=true")
        return self

    @property
    def github_sign_in(self) -> tuple[str, str] | None:
        """The OAuth app's client id and secret, when the chat page offers GitHub sign-in."""
        if self.github_oauth_client_id and self.github_oauth_client_secret:
            return self.github_oauth_client_id, self.github_oauth_client_secret.get_secret_value()
        return None

    @property
    def sync_schedule(self) -> SyncSchedule | None:
        return SyncSchedule.every(self.sync_interval) if self.sync_interval else None

    @property
    def webhook_secret(self) -> str | None:
        """None when unset or empty: an empty secret would let anyone sign a delivery."""
        return (self.github_webhook_secret.get_secret_value() if self.github_webhook_secret else "") or None

    @property
    def retrieval_policy(self) -> RetrievalPolicy:
        return RetrievalPolicy(
            mode=self.retrieval,
            rrf_k=self.rrf_k,
            dense_weight=self.dense_weight,
            keyword_weight=self.keyword_weight,
            max_hits_per_file=self.max_hits_per_file,
            kind_weights=KindWeights.parse(self.kind_weights or ""),
        )

    @property
    def disk_reserve_bytes(self) -> int:
        return self.disk_reserve_mb * 1024 * 1024

    @property
    def input_limits(self) -> InputLimits:
        return InputLimits(self.max_question_bytes, self.max_history_bytes)

    @property
    def citation_close_enough(self) -> float | None:
        """The measured similarity a cited sentence needs to its passage with the configured embedder."""
        return CITATION_CLOSE_ENOUGH_BY_EMBEDDINGS[self.embeddings]

    @property
    def abstain_threshold(self) -> float | None:
        """REPOCHAT_ABSTAIN_BELOW, or the measured threshold of the configured embedder."""
        if self.abstain_below is not None:
            return self.abstain_below
        return ABSTAIN_BELOW_BY_EMBEDDINGS[self.embeddings]

    @property
    def answer_mode(self) -> Literal["openai", "extractive"]:
        """`openai` when chosen, or by default when an API key is set; else `extractive`."""
        if self.llm:
            return self.llm
        return "openai" if self.openai_api_key else "extractive"

    @property
    def chroma_mode(self) -> Literal["embedded", "server"]:
        return "server" if self.chroma_url else "embedded"

    @property
    def keyword_index_vectors(self) -> bool:
        """`keyword_vectors`, or by default whether Chroma is embedded."""
        return self.chroma_mode == "embedded" if self.keyword_vectors is None else self.keyword_vectors

    @property
    def local_root_paths(self) -> tuple[Path, ...]:
        """The real paths of `local_roots` (symlinks resolved), in the order given."""
        parts = (part.strip() for part in (self.local_roots or "").split(os.pathsep))
        return tuple(Path(part).expanduser().resolve() for part in parts if part)

    @property
    def allowed_host_names(self) -> frozenset[str] | None:
        """The names requests may address: None (any) with REPOCHAT_API_KEYS or `*`, else loopback's and
        REPOCHAT_ALLOWED_HOSTS' (until keys are stored: then the key decides, see AllowedHosts)."""
        names = {name.strip().lower().rstrip(".") for name in (self.allowed_hosts or "").split(",") if name.strip()}
        if self.accepted_api_keys or "*" in names:
            return None
        return frozenset({"localhost", "127.0.0.1", "::1", *names})

    @property
    def accepted_api_keys(self) -> frozenset[str]:
        return frozenset(k.strip() for k in (self.api_keys or "").split(",") if k.strip())


def load_settings() -> Settings:
    """The settings of the environment; InvalidInput naming each variable that is wrong and why."""
    try:
        return Settings()
    except ValidationError as e:
        problems = "; ".join(_problem(error["loc"], error["msg"]) for error in e.errors())
        raise InvalidInput(f"invalid configuration: {problems}") from e


def _problem(location: tuple[int | str, ...], message: str) -> str:
    message = message.removeprefix("Value error, ")
    if not location:  # a rule across settings: its message names them
        return message
    name = str(location[0])
    variable = name if name.isupper() else f"REPOCHAT_{name.upper()}"
    return f"{variable}: {message}"
