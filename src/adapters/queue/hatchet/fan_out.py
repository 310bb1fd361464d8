"""The parent task's fan-out: one batch task per slice of the files to index, outcomes added up as they finish.

Children are spawned with a key made of the snapshot's commit and the batch number, so a parent
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

from adapters.queue.hatchet.contract import BatchInput, SnapshotRef
from adapters.queue.hatchet.progress import ProgressLog
from adapters.queue.hatchet.task_policy import unaccounted
from application.indexing import BatchOutcome, IndexPlan
from domain.documents import FileEntry
from domain.jobs import Progress

log = logging.getLogger(__name__)

TRIGGER_GROUP = 500
"""Child runs triggered per bulk call."""

BatchTask = Standalone[BatchInput, BatchOutcome]
Slices = Sequence[Sequence[FileEntry]]


class FanOut:
    """Runs the batches of one plan for the parent task `ctx`, writing progress as they finish."""

    def __init__(
        self, hatchet: Hatchet, batch: BatchTask, ctx: Context, progress: ProgressLog, files_per_task: int
    ) -> None:
        self._hatchet = hatchet
        self._batch = batch
        self._ctx = ctx
        self._progress = progress
        self._size = max(1, files_per_task)
        self._run_ids: list[str] = []

    async def run(self, plan: IndexPlan) -> BatchOutcome:
        assert plan.diff is not None
        todo = plan.diff.to_index
        slices = [todo[i : i + self._size] for i in range(0, len(todo), self._size)]
        await self._progress.write("embedding", Progress(files_total=len(todo)))
        if not slices:
            return BatchOutcome()
        waiting = await self._spawn(plan, slices)
        try:
            return await self._collect(waiting, slices, len(todo))
        except FailedTaskRunExceptionGroup as e:
            await self._cancel_children()
            number = _failed_batch(e, self._run_ids)
            raise NonRetryableException(f"batch {number} of {len(slices)} failed: {_child_error(e)}") from None
        except (asyncio.CancelledError, NonRetryableException):
            # Not on other errors: a retried parent gets these children back and waits for them.
            await asyncio.shield(self._cancel_children())
            raise
        finally:
            for future in waiting:
                future.cancel()

    async def _collect(
        self, waiting: list[asyncio.Future[tuple[int, BatchOutcome]]], slices: Slices, total: int
    ) -> BatchOutcome:
        outcome, done = BatchOutcome(), 0
        for finished in asyncio.as_completed(waiting):
            number, batch_outcome = await finished
            if self._ctx.is_cancelled:  # the engine tells a task it is cancelled a second before it cancels it
                raise asyncio.CancelledError
            files = slices[number - 1]
            if unaccounted(files, batch_outcome):
                # A finished batch accounts for every file it was given; a cancelled one has no output,
                # which the SDK reads as an empty outcome.
                raise NonRetryableException(f"batch {number} of {len(slices)} was cancelled")
            outcome = outcome + batch_outcome
            done += len(files)
            await self._progress.write("embedding", Progress(total, done, outcome.chunks_written))
        return outcome

    async def _spawn(self, plan: IndexPlan, slices: Slices) -> list[asyncio.Future[tuple[int, BatchOutcome]]]:
        snapshot = SnapshotRef.of(plan.snapshot)
        items = [
            self._batch.create_bulk_run_item(
                BatchInput(request=plan.request, snapshot=snapshot, files=list(files), number=n, of=len(slices)),
                child_key=f"{snapshot.commit}-{n}",
            )
            for n, files in enumerate(slices, start=1)
        ]
        refs: list[TaskRunRef[BatchInput, BatchOutcome]] = []
        for start in range(0, len(items), TRIGGER_GROUP):
            refs.extend(await self._batch.aio_run_many(items[start : start + TRIGGER_GROUP], wait_for_result=False))
        self._run_ids = [ref.workflow_run_id for ref in refs]
        log.info("spawned %d batch tasks for %d files", len(refs), sum(len(files) for files in slices))
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
