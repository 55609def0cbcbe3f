"""Due jobs are claimed closest to their likely completion first (issue 17), on each engine:
when more are due than can go, the polls go to the jobs most likely to find their video done;
a job without an estimate is ordered by when it became due. One statement claims the batch."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from bot.clock import ManualClock
from bot.config import ServiceConfig
from bot.metrics import Metrics
from bot.models import JobState
from bot.polling import Polling
from storage import is_postgres, sqlite_path
from storage.postgres import PostgresStore
from storage.sqlite import SqliteStore
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


async def _statements_to_claim(store: AnyStore, due: int, start: int) -> int:
    """How many SQL statements the store sends to claim `due` jobs due now."""
    for i in range(start, start + due):
        await store.create_job(job(f"j{i}"), [], ROOMY, PERIOD)
    sent: list[str] = []
    if isinstance(store, PostgresStore):
        async with store._pool.acquire() as db:  # the pool's only connection
            db.add_query_logger(lambda record: sent.append(record.query))
        claimed = await store.claim_due(now=NOW, lease_s=30, limit=100, platforms=["chat"])
    else:
        await store._writer.set_trace_callback(sent.append)
        claimed = await store.claim_due(now=NOW, lease_s=30, limit=100, platforms=["chat"])
        await store._writer.set_trace_callback(lambda _: None)
    assert len(claimed) == due
    # Not counted: the reset asyncpg's pool sends as a connection goes back to it.
    return len([query for query in sent if not query.startswith("SELECT pg_advisory_unlock")])


async def test_a_batch_is_claimed_in_as_many_statements_as_one_job(database_url: str) -> None:
    # One round trip per batch, not per job (issue 17): claiming 40 costs what claiming 1 does.
    if is_postgres(database_url):
        store: AnyStore = await PostgresStore.open(database_url, min_size=1, max_size=1)
    else:
        store = await SqliteStore.open(sqlite_path(database_url))
    try:
        one = await _statements_to_claim(store, 1, 0)
        many = await _statements_to_claim(store, 40, 1)
    finally:
        await store.close()
    assert one == many
    assert many == (1 if isinstance(store, PostgresStore) else 5)  # BEGIN, 3, COMMIT


async def test_the_estimate_follows_the_models_completion_times(any_store: AnyStore) -> None:
    for n, took in enumerate((20.0, 30.0, 40.0, 50.0, 60.0, 70.0)):
        await any_store.create_job(job(f"done{n}"), [], ROOMY, PERIOD)
        start = NOW - 1000 + 100 * n
        await any_store.transition(f"done{n}", (JobState.PENDING,), JobState.SUBMITTED, now=start)
        await any_store.transition(
            f"done{n}", (JobState.SUBMITTED,), JobState.SUCCEEDED, now=start + took
        )
    polling = Polling(
        store=any_store,
        config=ServiceConfig(default_provider="local", limits=ROOMY, work_dir=Path("unused")),
        clock=ManualClock(NOW),
        metrics=Metrics(),
        links=None,
    )
    young = replace(job("young"), created_at=NOW - 5)  # most completions are ahead of it
    old = replace(job("old"), created_at=NOW - 55)  # only the slowest are
    assert await polling.likely_done_at(young, NOW) == NOW - 5 + 50.0  # the upper median
    assert await polling.likely_done_at(old, NOW) == NOW - 55 + 70.0
    assert await polling.likely_done_at(replace(old, model="unseen"), NOW) is None
