"""The composition root: the one place that chooses adapters and wires use cases.

Adapters are picked from settings with `providers.Selector`. Everything is created lazily,
when first asked for, so only the selected Chroma client or job queue is ever opened, and the
data folder is locked only when an adapter that keeps state there is (embedded Chroma, the
in-process queue's records).

What must be closed is owned by `providers.Resource`s (resources.py): `clients` closes the shared
HTTP client and the GitHub source's temporary folders, `job_runner` starts and stops the job
queue's workers in processes that run jobs, `sync_scheduler` runs the in-process schedule of
syncs. Objects themselves are built by synchronous providers, so `container.search()` stays a
plain call wherever it is made (a Hatchet task, a test); an async Resource would make every
provider depending on it return awaitables. A resource depends on what must outlive it, and
`shutdown_resources` closes it first: the schedule before the job runner, the job runner before
the clients and the data folder lock its jobs use.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from dependency_injector import containers, providers
from pydantic import SecretStr

from adapters.access.github_permissions import GitHubUserPermissions
from adapters.access.github_sign_in import GitHubOAuthSignIn
from adapters.chunking.tree_sitter_outline import TreeSitterOutline
from adapters.disk_reserve import DiskReserve
from adapters.embeddings.hashing import HashingEmbedder
from adapters.embeddings.local import OnnxMiniLMEmbedder
from adapters.embeddings.query_cache import QueryCachingEmbedder
from adapters.keys.cache import CachedKeys
from adapters.keys.chroma_key_store import ChromaKeyStore
from adapters.llm.extractive import ExtractiveAnswerGenerator, LiteralQueryRewriter
from adapters.queue.inprocess import InProcessJobQueue
from adapters.sources.github import GitHubArchiveSource
from adapters.sources.local_folder import LocalFolderSource
from adapters.vectorstore.chroma_client import open_chroma_server, open_embedded_chroma
from adapters.vectorstore.chroma_deliveries import ChromaDeliveryLog
from adapters.vectorstore.chroma_index import ChromaVectorIndex
from adapters.vectorstore.chroma_manifests import ChromaManifestStore
from adapters.vectorstore.chroma_sessions import ChromaSessionStore
from adapters.vectorstore.chroma_sync_status import ChromaSyncStatusStore
from application.access import IdentifyCaller, RepositoryAccess
from application.answering import AnswerQuestion, CheckCitations
from application.evaluation import EvaluateRetrieval
from application.indexing import IndexRepository
from application.jobs import CancelJob, GetJob, ListJobs, SubmitIndexJob
from application.keys import CreateKey, ListKeys, RevokeKey
from application.reading import ReadIndexedFile
from application.repositories import ForgetRepository, GetRepository, ListRepositories, ResolveRepository
from application.search import SearchDocuments
from application.sessions import FindSession, SignIn, SignOut, StartSignIn
from application.sync import SyncIndexedRepositories, SyncLedger, SyncPushedRef
from domain.sync import SyncSchedule
from entrypoints import resources
from entrypoints.mcp_tools import RepochatTools
from entrypoints.metrics import MeteredAnswerGenerator, MeteredEmbedder, MeteredIndexing, MeteredSearch, Metrics
from entrypoints.settings import Settings
from entrypoints.source_input import LocalFolders


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value else None


def _github_permissions(settings: Settings, client: httpx.AsyncClient) -> GitHubUserPermissions | None:
    """GitHub's permissions, asked with each user's own token; None unless REPOCHAT_GITHUB_PERMISSIONS."""
    if not settings.github_permissions:
        return None
    return GitHubUserPermissions(client, settings.github_api_url, settings.github_permissions_ttl)


def _github_sign_in(settings: Settings, client: httpx.AsyncClient) -> GitHubOAuthSignIn | None:
    """The OAuth app of the chat page's sign-in; None unless its client id and secret are set."""
    app = settings.github_sign_in
    return GitHubOAuthSignIn(client, settings.github_web_url, *app) if app else None


def _inprocess_schedule(settings: Settings) -> SyncSchedule | None:
    """The schedule this process runs: none with Hatchet, whose workers run it as a cron workflow."""
    return settings.sync_schedule if settings.job_queue == "inprocess" else None


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    process_name = providers.Object("repochat")

    data_dir = providers.Callable(lambda s: s.data_dir.expanduser().resolve(), settings)
    data_dir_lock = providers.Resource(resources.hold_data_dir, data_dir, process_name)
    http_client = providers.Singleton(httpx.AsyncClient, timeout=httpx.Timeout(30.0, connect=10.0))
    metrics = providers.Singleton(Metrics)
    github_permissions = providers.Singleton(_github_permissions, settings, http_client)

    chroma_client = providers.Singleton(
        resources.migrated_chroma,
        providers.Selector(
            settings.provided.chroma_mode,
            embedded=providers.Singleton(open_embedded_chroma, data_dir, data_dir_lock),
            server=providers.Singleton(open_chroma_server, settings.provided.chroma_url),
        ),
    )
    disk_reserve = providers.Selector(
        settings.provided.chroma_mode,
        embedded=providers.Singleton(DiskReserve, data_dir, settings.provided.disk_reserve_bytes),
        server=providers.Object(None),
    )
    vector_index = providers.Singleton(
        ChromaVectorIndex, chroma_client, disk_reserve, settings.provided.keyword_index_vectors
    )
    manifests = providers.Singleton(ChromaManifestStore, chroma_client)
    sync_statuses = providers.Singleton(ChromaSyncStatusStore, chroma_client)
    webhook_deliveries = providers.Singleton(ChromaDeliveryLog, chroma_client)
    key_store = providers.Singleton(
        CachedKeys, providers.Singleton(ChromaKeyStore, chroma_client), settings.provided.key_cache_seconds
    )
    identify_caller = providers.Singleton(
        IdentifyCaller, settings.provided.accepted_api_keys, key_store, github_permissions
    )
    create_key = providers.Factory(CreateKey, key_store)
    list_keys = providers.Factory(ListKeys, key_store)
    revoke_key = providers.Factory(RevokeKey, key_store)

    openai_connection = providers.Singleton(
        resources.OpenAIConnection,
        api_key=providers.Callable(_secret, settings.provided.openai_api_key),
        base_url=settings.provided.openai_base_url,
        http_client=http_client,
    )
    embedder = providers.Selector(
        settings.provided.embeddings,
        local=providers.Singleton(OnnxMiniLMEmbedder),
        hashing=providers.Singleton(HashingEmbedder),
        openai=providers.Singleton(resources.openai_embedder, settings.provided.embedding_model, openai_connection),
    )
    openai_chat_generator = providers.Singleton(
        resources.openai_chat_generator, settings.provided.chat_model, openai_connection
    )
    answer_generator = providers.Selector(
        settings.provided.answer_mode,
        extractive=providers.Singleton(ExtractiveAnswerGenerator),
        openai=openai_chat_generator,
    )
    query_rewriter = providers.Selector(
        settings.provided.answer_mode,
        extractive=providers.Singleton(LiteralQueryRewriter),
        openai=providers.Singleton(openai_chat_generator.provided.query_rewriter.call()),
    )
    metered_embedder = providers.Singleton(MeteredEmbedder, embedder, metrics)
    metered_answer_generator = providers.Singleton(
        MeteredAnswerGenerator, answer_generator, metrics, settings.provided.answer_mode
    )

    github_source = providers.Singleton(
        GitHubArchiveSource,
        client=http_client,
        api_url=settings.provided.github_api_url,
        token=providers.Callable(_secret, settings.provided.github_token),
        web_url=settings.provided.github_web_url,
        max_archive_bytes=settings.provided.archive_max_bytes,
        max_archive_files=settings.provided.archive_max_files,
        extract_dir=providers.Callable(lambda d: d / "tmp" / "archives", data_dir),
    )
    sources = providers.List(providers.Singleton(LocalFolderSource), github_source)
    github_sign_in = providers.Singleton(_github_sign_in, settings, http_client)
    sessions = providers.Singleton(ChromaSessionStore, chroma_client)
    start_sign_in = providers.Factory(StartSignIn, github_sign_in)
    sign_in = providers.Factory(SignIn, github_sign_in, github_permissions, sessions)
    find_session = providers.Factory(FindSession, sessions)
    sign_out = providers.Factory(SignOut, sessions)
    clients = providers.Resource(resources.closing_clients, http_client, github_source)

    code_outline = providers.Singleton(TreeSitterOutline)
    index_repository = providers.Factory(
        IndexRepository, sources, metered_embedder, vector_index, manifests, outline=code_outline
    )
    metered_indexing = providers.Factory(MeteredIndexing, index_repository.provided.execute, metrics)
    hatchet_client = providers.Singleton(resources.hatchet_client)
    inprocess_queue = providers.Singleton(
        InProcessJobQueue,
        providers.Callable(resources.job_database, data_dir, data_dir_lock),
        metered_indexing.provided.execute,
        index_repository.provided.discard_unswapped,
    )
    hatchet_queue = providers.Singleton(resources.hatchet_job_queue, hatchet_client)
    job_queue = providers.Selector(settings.provided.job_queue, inprocess=inprocess_queue, hatchet=hatchet_queue)
    job_records = providers.Selector(  # what /metrics counts queued and running jobs from (Hatchet counts its own)
        settings.provided.job_queue, inprocess=inprocess_queue, hatchet=providers.Object(None)
    )
    job_runner = providers.Selector(
        settings.provided.job_queue,
        inprocess=providers.Resource(resources.run_jobs, inprocess_queue, clients, data_dir_lock),
        hatchet=providers.Resource(resources.run_jobs, hatchet_queue, clients),
    )

    keyword_index = providers.Resource(
        resources.keyword_index,
        vector_index,
        providers.Callable(lambda s, d: s.keyword_index_dir or d / "keyword", settings, data_dir),
    )
    query_embedder = providers.Singleton(QueryCachingEmbedder, metered_embedder)
    repository_access = providers.Singleton(RepositoryAccess, github_permissions)
    search = providers.Factory(
        MeteredSearch,
        providers.Factory(
            SearchDocuments,
            query_embedder,
            vector_index,
            manifests,
            keyword_index,
            settings.provided.retrieval_policy,
            settings.provided.input_limits,
            repository_access,
        ),
        metrics,
    )
    check_citations = providers.Singleton(
        CheckCitations,
        settings.provided.unsupported_citations,
        metered_embedder,
        settings.provided.citation_close_enough,
    )
    answer_question = providers.Factory(
        AnswerQuestion,
        search,
        metered_answer_generator,
        query_rewriter,
        settings.provided.abstain_threshold,
        settings.provided.input_limits,
        check_citations,
    )
    evaluate = providers.Factory(EvaluateRetrieval, search)
    submit_index_job = providers.Factory(SubmitIndexJob, job_queue, sources, repository_access)
    get_job = providers.Factory(GetJob, job_queue, repository_access)
    list_jobs = providers.Factory(ListJobs, job_queue, repository_access)
    cancel_job = providers.Factory(CancelJob, job_queue, repository_access)
    sync_ledger = providers.Factory(SyncLedger, sync_statuses, job_queue.provider, settings.provided.sync_schedule)
    sync_indexed_repositories = providers.Factory(
        SyncIndexedRepositories, manifests, sync_ledger, settings.provided.sync_schedule
    )
    sync_pushed_ref = providers.Factory(SyncPushedRef, manifests, sync_ledger, webhook_deliveries)
    sync_scheduler = providers.Resource(
        resources.schedule_syncs,
        sync_indexed_repositories.provider,
        providers.Callable(_inprocess_schedule, settings),
        job_runner,
    )
    list_repositories = providers.Factory(ListRepositories, manifests, sync_ledger, repository_access)
    get_repository = providers.Factory(GetRepository, list_repositories)
    forget_repository = providers.Factory(ForgetRepository, manifests, vector_index, sync_statuses, repository_access)
    resolve_repository = providers.Factory(ResolveRepository, manifests, repository_access)
    read_indexed_file = providers.Factory(ReadIndexedFile, sources, manifests, repository_access)
    local_folders = providers.Callable(LocalFolders.for_remote_callers, settings)
    """The local folders a remote caller's source may name, for the HTTP API and the MCP tools alike."""

    mcp_tools = providers.Factory(
        RepochatTools,
        list_repositories=list_repositories.provider,
        resolve_repository=resolve_repository.provider,
        search=search.provider,
        read_file=read_indexed_file.provider,
        answer_question=answer_question.provider,
        submit_index_job=submit_index_job.provider,
        get_job=get_job.provider,
        local_folders=local_folders,
    )


@asynccontextmanager
async def running(
    container: Container, *, run_jobs: bool = False, run_schedule: bool = False
) -> AsyncIterator[Container]:
    """Open the container for one process's lifetime; its resources close when it ends.

    `run_jobs` starts the job queue's workers (the server, a waiting `index`); other
    commands only read job records and never pick up leftover jobs. `run_schedule` (the
    server) runs the jobs and the in-process schedule of syncs, when one is set.
    """
    try:
        await container.clients.async_()
        if run_jobs or run_schedule:
            await container.job_runner.async_()
        if run_schedule:
            await container.sync_scheduler.async_()
        yield container
    finally:
        await _shut_down(container)


async def _shut_down(container: Container) -> None:
    """Close every resource the container opened, each after those that depend on it."""
    closing = container.shutdown_resources()
    if closing is not None:
        await closing
