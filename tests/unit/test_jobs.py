"""Submitting index jobs: a request joins the unfinished job of its ref only when it indexes the same files."""

from __future__ import annotations

from dataclasses import replace

import pytest

from application.jobs import SubmitIndexJob
from domain.errors import Conflict, InvalidInput
from domain.jobs import IndexRequest
from domain.sources import SourceKind, SourceSpec
from tests.unit.fakes import CoalescingJobQueue, FakeSource

DOCS = IndexRequest(SourceSpec(SourceKind.LOCAL, "/srv/docs", include=("docs/**",)))


@pytest.fixture
def queue() -> CoalescingJobQueue:
    return CoalescingJobQueue()


def submit(queue: CoalescingJobQueue) -> SubmitIndexJob:
    return SubmitIndexJob(queue, [FakeSource({})])


async def test_the_same_request_again_joins_the_unfinished_job(queue: CoalescingJobQueue) -> None:
    first = await submit(queue).execute(DOCS)
    assert await submit(queue).execute(DOCS) == first
    assert len(queue.jobs) == 1


@pytest.mark.parametrize(
    "source",
    [
        replace(DOCS.source, include=("guides/**",)),
        replace(DOCS.source, include=()),
        replace(DOCS.source, exclude=("*.txt",)),
    ],
)
async def test_other_globs_for_the_same_ref_are_a_conflict_naming_the_job(
    queue: CoalescingJobQueue, source: SourceSpec
) -> None:
    first = await submit(queue).execute(DOCS)
    with pytest.raises(Conflict, match=f"job {first.id} already indexes .* with include \\['docs/\\*\\*'\\]"):
        await submit(queue).execute(IndexRequest(source))


async def test_other_globs_are_fine_once_the_job_finished_or_at_another_ref(queue: CoalescingJobQueue) -> None:
    first = await submit(queue).execute(DOCS)
    other_ref = await submit(queue).execute(IndexRequest(replace(DOCS.source, ref="v1", include=())))
    assert other_ref.id != first.id
    await queue.cancel(first.id)
    again = await submit(queue).execute(IndexRequest(replace(DOCS.source, include=("guides/**",))))
    assert again.id not in (first.id, other_ref.id)


async def test_an_invalid_collection_is_refused_before_anything_is_queued(queue: CoalescingJobQueue) -> None:
    with pytest.raises(InvalidInput):
        await submit(queue).execute(replace(DOCS, collection="-bad-"))
    assert queue.jobs == {}
