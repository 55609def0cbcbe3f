"""Request budgets through the real JobService, the real gateway adapter and its HTTP fake,
which enforces a rate limit of its own (429 with Retry-After past it): a burst of jobs never
makes the fake see more than the budget, and a provider stricter than the budget said (a
storm of 429s) slows the bot down instead of failing the jobs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.budget import Limit, ProviderLimits
from bot.models import JobState
from bot.scheduler import Scheduler
from storage.sqlite import SqliteStore
from tests.faults.support import BY_NAME, FAMILIES, Family, provider_bot

JOBS = 12
# The storm on three families: one that only polls, one that calls back, one with a token.
STORM_FAMILIES = [f for f in FAMILIES if f.name in ("gateway", "replicate", "vertex")]
STORM = pytest.mark.parametrize("family", STORM_FAMILIES, ids=[f.name for f in STORM_FAMILIES])


@BY_NAME
async def test_a_burst_of_jobs_stays_within_the_budget(
    store: SqliteStore, tmp_path: Path, family: Family
) -> None:
    budget = ProviderLimits(submit=Limit(5, 1.0), status=Limit(8, 1.0))
    async with provider_bot(
        store, tmp_path, family, budgets={family.name: budget}, job_duration_s=0.3
    ) as bot:
        submits = bot.fake.limit_rate(family.submit, 5, 1.0, method="POST")
        reads = bot.fake.limit_rate(family.status, 8, 1.0, method=family.status_method)
        jobs = await asyncio.gather(*(bot.submit() for _ in range(JOBS)))
        done = await asyncio.wait_for(
            asyncio.gather(*(bot.service.wait_until_done(j.id) for j in jobs)), 60
        )
        assert [d.state for d in done] == [JobState.DELIVERED] * JOBS
        assert (submits.refused, reads.refused) == (0, 0)  # not one 429
        assert len(submits.seen) == JOBS
        assert submits.most_in_a_window() <= 5
        assert reads.most_in_a_window() <= 8
        # The jobs did wait for the budget: more of them wanted a call at once than it allows.
        deferred = bot.service.metrics.value(
            "veo_budget_deferred_total", provider=family.name, kind="submit"
        )
        assert deferred > 0
        # Each video's delay from done at the provider to noticed is in /metrics.
        text = bot.service.metrics.render()
        assert f'veo_notice_delay_seconds_count{{provider="{family.name}"}} {JOBS}' in text


@STORM
async def test_a_429_storm_slows_the_bot_instead_of_failing_jobs(
    store: SqliteStore, tmp_path: Path, family: Family
) -> None:
    # The budget says 20 reads a second; the provider allows 2 and says so with 429s.
    budget = ProviderLimits(status=Limit(20, 1.0))
    async with provider_bot(
        store, tmp_path, family, budgets={family.name: budget}, job_duration_s=0.2
    ) as bot:
        reads = bot.fake.limit_rate(family.status, 2, 1.0, method=family.status_method)
        jobs = await asyncio.gather(*(bot.submit() for _ in range(6)))
        done = await asyncio.wait_for(
            asyncio.gather(*(bot.service.wait_until_done(j.id) for j in jobs)), 60
        )
        assert [d.state for d in done] == [JobState.DELIVERED] * 6
        assert reads.refused > 0  # the storm came
        # ...and the bot slowed down: most reads got through, few were refused.
        assert reads.refused <= len(reads.seen) // 2, (reads.refused, len(reads.seen))
        assert reads.most_in_a_window() <= 2 + reads.refused


async def test_useapis_scheduler_listing_reads_many_jobs_in_one_call(
    store: SqliteStore, tmp_path: Path
) -> None:
    [useapi] = [f for f in FAMILIES if f.name == "useapi"]
    budget = {useapi.name: ProviderLimits(status=Limit(20, 1.0))}
    async with provider_bot(store, tmp_path, useapi, budgets=budget, job_duration_s=1.5) as bot:
        jobs = await asyncio.gather(*(bot.submit() for _ in range(JOBS)))
        done = await asyncio.wait_for(
            asyncio.gather(*(bot.service.wait_until_done(j.id) for j in jobs)), 30
        )
        assert [d.state for d in done] == [JobState.DELIVERED] * JOBS
        listings = bot.fake.received("GET", "/v1/ltxstudio/scheduler")
        one_by_one = bot.fake.received("GET", useapi.status)
        # Jobs running 1.5 s, polled as often as 20 reads a second allow: dozens of reads one
        # by one; with the listing, a job is read on its own only once it is off the list.
        assert len(listings) > 5
        assert len(one_by_one) <= 2 * JOBS, len(one_by_one)


async def test_when_the_budget_is_short_the_jobs_closest_to_completion_are_polled_first(
    store: SqliteStore, tmp_path: Path
) -> None:
    [gateway] = [f for f in FAMILIES if f.name == "gateway"]
    # Two reads at once, then one every half second; six jobs due at once.
    budget = {gateway.name: ProviderLimits(status=Limit(4, 1.0))}
    async with provider_bot(
        store, tmp_path, gateway, budgets=budget, job_duration_s=3600, scheduled=False
    ) as bot:
        jobs = [await bot.submit() for _ in range(6)]
        for job in jobs:  # submitted, by hand: no poll yet
            await bot.service.advance(job)
        bot.clock.skip(60)  # the polls the submits planned are long past
        now = bot.clock.now()
        # The oldest due is the farthest from its likely completion, and so on: oldest-due
        # first would poll them in the opposite order.
        by_closeness: list[str | None] = []
        for i, job in enumerate(jobs):
            submitted = await store.get_job(job.id)
            assert submitted is not None and submitted.state is JobState.SUBMITTED
            await store.update(
                job.id,
                version=submitted.version,
                now=now,
                due_at=now - 10 + i,
                likely_done_at=now + 60 - 10 * i,
            )
            by_closeness.insert(0, submitted.provider_job_id)
        scheduler = Scheduler(bot.service, idle_s=0.02)
        await scheduler.start()
        polled: list[str] = []  # each job once, in the order first polled
        try:
            async with asyncio.timeout(20):
                while len(polled) < 4:
                    await asyncio.sleep(0.02)
                    for read in bot.fake.received("GET", gateway.status):
                        if (task := read.path.rsplit("/", 1)[-1]) not in polled:
                            polled.append(task)
        finally:
            await scheduler.stop()
        assert polled[:2] == by_closeness[:2], (polled, by_closeness)  # went at once
        assert polled[2:4] == by_closeness[2:4], (polled, by_closeness)  # were deferred
