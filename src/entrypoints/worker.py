"""`repochat worker`: run index jobs queued on a Hatchet engine (docs/hatchet.md says how).

Configuration is the API's (REPOCHAT_*), plus the Hatchet SDK's HATCHET_CLIENT_* variables.
A worker needs:
- REPOCHAT_JOB_QUEUE=hatchet, like the API that submits the jobs;
- REPOCHAT_CHROMA_URL: workers and the API share one index and its manifests (embedded Chroma
  belongs to the one process holding the data folder's lock);
- more slots than REPOCHAT_INDEX_JOBS_IN_PARALLEL: a job's parent task keeps its slot while
  its batch tasks run.

Log records carry the job (the parent run id) and the task run they belong to.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable

from adapters.queue.hatchet.log_context import current_job, current_task
from adapters.queue.hatchet.sync_workflow import register_sync_workflow
from adapters.queue.hatchet.workflows import put_embedding_rate_limit, register_index_workflows
from domain.errors import InvalidInput, UpstreamUnavailable
from entrypoints.container import Container, running
from entrypoints.settings import Settings
from entrypoints.worker_processes import make_children_die_with

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s job=%(job)s task=%(task)s: %(message)s"


class _JobContext(logging.Filter):
    """Adds the job and task a record was logged for (`-` outside tasks)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.job = current_job.get()
        record.task = current_task.get()
        return True


def run_worker(settings: Settings, slots: int, name: str) -> int:
    """Serve index tasks until a signal stops the worker; returns the exit code."""
    check_settings(settings, slots)
    configure_logging()
    container = Container(settings=settings, process_name="repochat worker")
    asyncio.run(_check_index(container))
    hatchet = container.hatchet_client()
    try:
        put_embedding_rate_limit(hatchet, settings.embedding_batches_per_minute)
    except Exception as e:
        raise UpstreamUnavailable(f"cannot reach Hatchet to set the embedding rate limit: {type(e).__name__}") from e
    workflows = register_index_workflows(
        hatchet,
        lambda batches: container.index_repository(files_per_batch=settings.index_files_per_task, batches=batches),
        jobs_in_parallel=settings.index_jobs_in_parallel,
    )
    sync = register_sync_workflow(hatchet, lambda: container.sync_indexed_repositories(), settings.sync_schedule)
    worker = hatchet.worker(name, slots=slots, workflows=[*workflows.all, sync], lifespan=_lifespan(container))
    make_children_die_with(worker)
    log.info("worker %s starting with %d slots", name, slots)
    worker.start()
    return 0


def check_settings(settings: Settings, slots: int) -> None:
    if settings.job_queue != "hatchet":
        raise InvalidInput("`repochat worker` runs jobs of the Hatchet queue: set REPOCHAT_JOB_QUEUE=hatchet")
    if settings.chroma_mode != "server":
        raise InvalidInput(
            "`repochat worker` needs the Chroma server the API uses: set REPOCHAT_CHROMA_URL=http://host:port "
            "(embedded Chroma under REPOCHAT_DATA_DIR belongs to one process and cannot be shared)"
        )
    if slots <= settings.index_jobs_in_parallel:
        raise InvalidInput(
            f"--slots must be more than REPOCHAT_INDEX_JOBS_IN_PARALLEL ({settings.index_jobs_in_parallel}): "
            "a running job keeps one slot while its batch tasks need others"
        )


def configure_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO)
    formatter = logging.Formatter(LOG_FORMAT)
    for handler in root.handlers:
        handler.addFilter(_JobContext())
        handler.setFormatter(formatter)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per Chroma request otherwise


async def _check_index(container: Container) -> None:
    """Fail at start, with a clear message, when the Chroma server cannot be reached."""
    await container.vector_index().ping()


def _lifespan(container: Container) -> Callable[[], AsyncGenerator[None, None]]:
    """Opens the container on the worker's event loop and closes it after the last task."""

    async def lifespan() -> AsyncGenerator[None, None]:
        async with running(container):
            yield None
        log.info("worker stopped; container closed")

    return lifespan
