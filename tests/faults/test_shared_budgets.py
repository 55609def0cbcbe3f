"""Request budgets shared by replicas on PostgreSQL: two bots, each with its own store
(connection pool), service and scheduler, as two replicas, against one provider fake that
enforces a rate limit of its own (429 with Retry-After past it). Together they never send more
than the budget, and a 429 seen by one slows both instead of failing jobs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.budget import Limit, ProviderLimits, SharedPacer, batch_size
from bot.models import Job, JobState
from storage import open_store
from storage.postgres import PostgresStore
from tests.faults.support import FAMILIES, Bot, Family, provider_bot

GATEWAY = next(f for f in FAMILIES if f.name == "gateway")
STORM_FAMILIES = [f for f in FAMILIES if f.name in ("gateway", "vertex")]
STORM = pytest.mark.parametrize("family", STORM_FAMILIES, ids=[f.name for f in STORM_FAMILIES])


@pytest.fixture
async def stores(postgres_url: str) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """Two stores on one database, as two replicas open it."""
    first, second = await open_store(postgres_url), await open_store(postgres_url)
    assert isinstance(first, PostgresStore) and isinstance(second, PostgresStore)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


@contextlib.asynccontextmanager
async def two_replicas(
    stores: tuple[PostgresStore, PostgresStore],
    tmp_path: Path,
    family: Family,
    budget: ProviderLimits,
    job_duration_s: float,
) -> AsyncIterator[tuple[Bot, Bot]]:
    budgets = {family.name: budget}
    async with (
        provider_bot(
            stores[0], tmp_path / "a", family, budgets=budgets, job_duration_s=job_duration_s
        ) as first,
        provider_bot(stores[1], tmp_path / "b", family, budgets=budgets, fake=first.fake) as second,
    ):
        yield first, second


async def all_done(store: PostgresStore, jobs: list[Job], timeout_s: float) -> list[Job]:
    """The jobs once every one is finished, whichever replica finished it (each replica's
    `wait_until_done` hears only of its own steps)."""
    async with asyncio.timeout(timeout_s):
        while True:
            read = [await store.get_job(job.id) for job in jobs]
            if all(job is not None and job.state.is_terminal for job in read):
                return [job for job in read if job is not None]
            await asyncio.sleep(0.05)


def status_calls(bot: Bot) -> float:
    return bot.service.metrics.value(
        "veo_provider_calls_total", provider=bot.family.name, operation="status", outcome="ok"
    )


async def test_two_replicas_together_stay_within_one_budget(
    stores: tuple[PostgresStore, PostgresStore], tmp_path: Path
) -> None:
    budget = ProviderLimits(submit=Limit(5, 1.0), status=Limit(8, 1.0))
    async with two_replicas(stores, tmp_path, GATEWAY, budget, job_duration_s=0.5) as (a, b):
        submits = a.fake.limit_rate(GATEWAY.submit, 5, 1.0, method="POST")
        reads = a.fake.limit_rate(GATEWAY.status, 8, 1.0, method="GET")
        jobs = await asyncio.gather(*(bot.submit() for bot in (a, b) for _ in range(8)))
        done = await all_done(stores[0], jobs, 60)
        assert [d.state for d in done] == [JobState.DELIVERED] * len(jobs)
        assert (submits.refused, reads.refused) == (0, 0)  # not one 429 across both
        assert submits.most_in_a_window() <= 5
        assert reads.most_in_a_window() <= 8
        # Both replicas did poll: the budget was shared, not held by one.
        assert status_calls(a) > 0 and status_calls(b) > 0


@STORM
async def test_a_429_storm_slows_both_replicas_and_fails_no_job(
    stores: tuple[PostgresStore, PostgresStore], tmp_path: Path, family: Family
) -> None:
    # The budget says 20 reads a second; the provider allows 2 and says so with 429s.
    budget = ProviderLimits(status=Limit(20, 1.0))
    async with two_replicas(stores, tmp_path, family, budget, job_duration_s=0.2) as (a, b):
        reads = a.fake.limit_rate(family.status, 2, 1.0, method=family.status_method)
        jobs = await asyncio.gather(*(bot.submit() for bot in (a, b) for _ in range(3)))
        done = await all_done(stores[0], jobs, 60)
        assert [d.state for d in done] == [JobState.DELIVERED] * len(jobs)
        assert reads.refused > 0  # the storm came
        # ...and both slowed down: most reads got through, few were refused.
        assert reads.refused <= len(reads.seen) // 2, (reads.refused, len(reads.seen))
        assert reads.most_in_a_window() <= 2 + reads.refused


async def test_reservations_in_batches_never_exceed_the_limit_across_replicas(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    # 600 a second: reserved 6 at a time, and spent as fast as each replica likes.
    limit = Limit(600, 1.0)
    pacers = [SharedPacer("fal", "status", limit, store) for store in stores]
    assert batch_size(limit) == 6
    sent: list[float] = []
    now = 1_000.0
    while now < 1_003.0:  # three seconds of both replicas asking every 0.5 ms
        for pacer in pacers:
            if await pacer.take(now) == 0:
                sent.append(now)
        now += 0.0005
    most, first = 0, 0
    for last, moment in enumerate(sent):
        while sent[first] <= moment - limit.window_s:
            first += 1
        most = max(most, last - first + 1)
    assert most <= 600
    assert len(sent) >= 0.95 * 3 * 600  # and the budget is not wasted
    # One round trip per batch, not per request (two when the other replica took the turn).
    trips = sum(p.round_trips for p in pacers)
    assert trips <= 2 * len(sent) / 6 + 4, trips


async def test_a_429_on_one_replica_holds_the_other_for_its_retry_after(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    limit = Limit(60, 1.0)
    first, second = (SharedPacer("fal", "status", limit, store) for store in stores)
    assert await first.take(100.0) == 0 and await second.take(100.0) == 0
    await first.throttled(100.0, 30.0)
    wait = await second.take(101.0)
    assert wait == pytest.approx(29.0)
    # After the pause, at half the pace: at the full pace a request half a spacing later
    # would go (one spacing ahead of its turn); at half the pace it waits another half.
    assert await second.take(130.0) == 0
    wait = await second.take(130.0 + limit.spacing_s / 2)
    assert wait == pytest.approx(limit.spacing_s / 2, rel=0.05)
