"""Due jobs are claimed closest to their likely completion first (issue 17), on each engine:
when more are due than can go, the polls go to the jobs most likely to find their video done;
a job without an estimate is ordered by when it became due. One statement claims the batch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.models import JobState
from tests.test_store_conformance import NOW, PERIOD, ROOMY, job

if TYPE_CHECKING:
    from storage import AnyStore


async def test_due_jobs_are_claimed_closest_to_completion_first(any_store: AnyStore) -> None:
    # (job, due, likely done): the oldest due is the farthest from done.
    made = [
        ("far", NOW - 30, NOW + 300),
        ("near", NOW - 10, NOW + 5),
        ("overdue", NOW - 5, NOW - 25),
        ("unknown", NOW - 20, None),  # no estimate: ranked by when it became due
        ("not-due", NOW + 60, NOW - 100),
    ]
    for job_id, due, likely in made:
        await any_store.create_job(job(job_id, due_at=due), [], ROOMY, PERIOD)
        moved = await any_store.transition(
            job_id, (JobState.PENDING,), JobState.SUBMITTED, now=NOW - 60, due_at=due
        )
        assert moved is not None
        if likely is not None:
            assert await any_store.update(
                job_id, version=moved.version, now=NOW - 60, likely_done_at=likely
            )
    first = await any_store.claim_due(now=NOW, lease_s=30, limit=2, platforms=["chat"])
    assert [j.id for j in first] == ["overdue", "unknown"]
    assert first[0].likely_done_at == NOW - 25
    rest = await any_store.claim_due(now=NOW, lease_s=30, limit=10, platforms=["chat"])
    assert [j.id for j in rest] == ["near", "far"]
