"""FanOutBatches: the batches of a job run as `repochat-index-batch` tasks on any worker (a `BatchRunner`).

Children are spawned with a key made of the version's commit and the batch number, so a parent
that runs again (retry, or reassigned after its worker died) gets back the children it already
spawned instead of new ones. Hatchet does not cancel children with their parent: a parent that
gives up or is cancelled cancels them itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence

from hatchet_sdk import BulkCancelReplayOpts, Context, FailedTaskRunExceptionGroup, Hatchet, NonRetryableException
from hatchet_sdk.runnables.workflow import Standalone, TaskRunRef

from adapters.queue.hatchet.contract import BatchInput
from application.ports.jobs import BatchDone, BatchOutcome, BatchRunner, IndexBatch

log = logging.getLogger(__name__)

TRIGGER_GROUP = 500
"""Child runs triggered per bulk call."""

BatchTask = Standalone[BatchInput, BatchOutcome]


class FanOutBatches(BatchRunner):
    """Runs the batches of one job as child tasks of the parent task `ctx`."""

    def __init__(self, hatchet: Hatchet, task: BatchTask, ctx: Context) -> None:
        self._hatchet = hatchet
        self._task = task
        self._ctx = ctx
        self._run_ids: list[str] = []

    async def run(self, batches: Sequence[IndexBatch], done: BatchDone) -> None:
        if not batches:
            return
        waiting = await self._spawn(batches)
        try:
            await self._collect(waiting, batches, done)
        except FailedTaskRunExceptionGroup as e:
            await self._cancel_children()
            number = _failed_batch(e, self._run_ids)
            raise NonRetryableException(f"batch {number} of {len(batches)} failed: {_child_error(e)}") from None
        except (asyncio.CancelledError, NonRetryableException):
            # Not on other errors: a retried parent gets these children back and waits for them.
            await asyncio.shield(self._cancel_children())
            raise
        finally:
            for future in waiting:
                future.cancel()
        if self._ctx.is_cancelled:  # a job no longer wanted keeps its previous version
            raise asyncio.CancelledError

    async def _collect(
        self, waiting: list[asyncio.Future[tuple[int, BatchOutcome]]], batches: Sequence[IndexBatch], done: BatchDone
    ) -> None:
        for finished in asyncio.as_completed(waiting):
            number, outcome = await finished
            if self._ctx.is_cancelled:  # the engine tells a task it is cancelled a second before it cancels it
                raise asyncio.CancelledError
            batch = batches[number - 1]
            if outcome.unaccounted(batch.files):
                # A finished batch accounts for every file it was given; a cancelled one has no output,
                # which the SDK reads as an empty outcome.
                raise NonRetryableException(f"batch {number} of {len(batches)} was cancelled")
            await done(batch, outcome)

    async def _spawn(self, batches: Sequence[IndexBatch]) -> list[asyncio.Future[tuple[int, BatchOutcome]]]:
        items = [
            self._task.create_bulk_run_item(BatchInput(batch=batch), child_key=f"{batch.version.commit}-{batch.number}")
            for batch in batches
        ]
        refs: list[TaskRunRef[BatchInput, BatchOutcome]] = []
        for start in range(0, len(items), TRIGGER_GROUP):
            refs.extend(await self._task.aio_run_many(items[start : start + TRIGGER_GROUP], wait_for_result=False))
        self._run_ids = [ref.workflow_run_id for ref in refs]
        log.info("spawned %d batch tasks for %d files", len(refs), sum(len(batch.files) for batch in batches))
        return [asyncio.ensure_future(_numbered(number, ref.aio_result())) for number, ref in enumerate(refs, 1)]

    async def _cancel_children(self) -> None:
        """Best effort: the parent's own outcome matters more than this clean-up."""
        if not self._run_ids:
            return
        try:
            await self._hatchet.runs.aio_bulk_cancel(BulkCancelReplayOpts(ids=self._run_ids))
        except Exception as e:
            log.warning("could not cancel the batch tasks: %s: %s", type(e).__name__, e)


async def _numbered(number: int, result: Awaitable[BatchOutcome]) -> tuple[int, BatchOutcome]:
    return number, await result


def _child_error(group: FailedTaskRunExceptionGroup) -> str:
    messages = [e.exc.strip() for e in group.exceptions if e.exc.strip()]
    return "; ".join(dict.fromkeys(messages)) or group.message


def _failed_batch(group: FailedTaskRunExceptionGroup, run_ids: list[str]) -> str:
    """The failed batch's number, found from the run id in the group's message."""
    for number, run_id in enumerate(run_ids, start=1):
        if run_id in group.message:
            return str(number)
    return "?"
