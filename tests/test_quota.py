"""Quota reservations: atomic with the job insert, settled on success, refunded on failure.
Each test runs on SQLite and on PostgreSQL (`any_store`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot import quota
from bot.clock import ManualClock
from bot.errors import QuotaExceeded, UserFacingError
from bot.jobs import JobService
from bot.models import (
    GenerationRequest,
    JobState,
    ProviderJobState,
    ProviderStatus,
    QuotaLimits,
    QuotaUsage,
)
from bot.ports import LedgerAction
from bot.quota import USER_CONCURRENT, USER_DAILY, WORKSPACE_MONTHLY, period_at
from storage import open_store
from tests.support import RecordingSurface, ScriptedProvider, make_service, origin

if TYPE_CHECKING:
    from storage import AnyStore

REQUEST = GenerationRequest(prompt="waves at dusk", duration_s=8)


@pytest.fixture
def store(any_store: AnyStore) -> AnyStore:
    """Every test here runs on each engine."""
    return any_store


def service_for(
    store: AnyStore, tmp_path: Path, limits: QuotaLimits, clock: ManualClock | None = None
) -> JobService:
    return make_service(
        store,
        tmp_path,
        providers={"scripted": ScriptedProvider()},
        surfaces={"chat": RecordingSurface()},
        limits=limits,
        clock=clock,
    )


async def test_fifty_concurrent_submissions_with_room_for_five_start_five_queue_the_rest(
    store: AnyStore, tmp_path: Path
) -> None:
    """Five start; the rest wait at the bot (issue 18) while the day's seconds, counting the
    waiting ones as committed, allow: 200 s is 25 videos of 8 s."""
    service = service_for(store, tmp_path, QuotaLimits(200, 5, 0))

    results = await asyncio.gather(
        *(service.submit(REQUEST, origin()) for _ in range(50)), return_exceptions=True
    )

    jobs = [r for r in results if not isinstance(r, BaseException)]
    refusals = [r for r in results if isinstance(r, QuotaExceeded)]
    assert (len(jobs), len(refusals)) == (25, 25)
    states = [j.state for j in jobs]
    assert (states.count(JobState.PENDING), states.count(JobState.QUEUED)) == (5, 20)
    assert {r.limit for r in refusals} == {USER_DAILY}
    assert len(await store.recent_jobs(100)) == 25
    assert len(await store.ledger()) == 25
    assert (await service.quota_usage(origin())).in_flight == 5
    assert service.metrics.value("veo_quota_refusals_total", limit=USER_DAILY) == 25


async def test_two_stores_racing_on_one_database_never_overspend(
    database_url: str, tmp_path: Path
) -> None:
    """Two processes' worth of connections: check-and-insert stays atomic across them."""
    first = await open_store(database_url)
    second = await open_store(database_url)
    try:
        a = service_for(first, tmp_path, QuotaLimits(40, 100, 0))
        b = service_for(second, tmp_path, QuotaLimits(40, 100, 0))
        results = await asyncio.gather(
            *(svc.submit(REQUEST, origin()) for _ in range(15) for svc in (a, b)),
            return_exceptions=True,
        )
        accepted = [r for r in results if not isinstance(r, BaseException)]
        assert len(accepted) == 5  # 5 x 8 s = 40 s
        assert all(isinstance(r, QuotaExceeded) for r in results if isinstance(r, BaseException))
        usage = await first.quota_usage(
            origin().user_key, origin().workspace_key, period_at(a.clock.now())
        )
        assert usage.used_today_s == 40
    finally:
        await first.close()
        await second.close()


async def test_daily_seconds_are_enforced_and_the_refusal_says_when_they_reset(
    store: AnyStore, tmp_path: Path
) -> None:
    clock = ManualClock(datetime(2026, 11, 22, 21, 30, tzinfo=UTC).timestamp())
    service = service_for(store, tmp_path, QuotaLimits(40, 100, 0), clock)
    for _ in range(5):
        await service.submit(REQUEST, origin())  # 40 s

    with pytest.raises(QuotaExceeded) as refused:
        await service.submit(REQUEST.model_copy(update={"duration_s": 4}), origin())
    message = refused.value.user_message
    assert refused.value.limit == USER_DAILY
    assert (
        "This video costs 4 s (≈ $0.60) of your daily quota, and you have 0 s of 40 s left today"
        in message
    )
    assert "2026-11-23 00:00 UTC (in 2h 30m)" in message

    # Another user has their own day.
    await service.submit(REQUEST, origin(user="u2"))


async def test_the_day_rolls_over_at_midnight_utc(store: AnyStore, tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 11, 22, 23, 59, 50, tzinfo=UTC).timestamp())
    service = service_for(store, tmp_path, QuotaLimits(16, 100, 0), clock)
    await service.submit(REQUEST, origin())
    await service.submit(REQUEST, origin())
    with pytest.raises(QuotaExceeded):
        await service.submit(REQUEST, origin())

    clock.advance(10)
    await service.submit(REQUEST, origin())
    usage = await service.quota_usage(origin())
    assert usage.used_today_s == 8


async def test_refunds_give_the_seconds_back_and_settling_keeps_them(
    store: AnyStore, tmp_path: Path
) -> None:
    service = service_for(store, tmp_path, QuotaLimits(16, 100, 0))
    kept = await service.submit(REQUEST, origin())
    failed = await service.submit(REQUEST, origin())
    with pytest.raises(QuotaExceeded):
        await service.submit(REQUEST, origin())

    await service.advance(failed)
    submitted = await store.get_job(failed.id)
    assert submitted is not None
    await service.apply_status(submitted, ProviderStatus(ProviderJobState.FAILED))
    assert (await service.quota_usage(origin())).used_today_s == 8

    third = await service.submit(REQUEST, origin())
    assert third.state is JobState.PENDING
    moved = await store.transition(
        kept.id,
        (JobState.PENDING,),
        JobState.CANCELLED,
        now=service.clock.now(),
        ledger=LedgerAction.SETTLE,
    )
    assert moved is not None
    # settling twice or refunding a settled reservation changes nothing
    again = await store.transition(
        kept.id,
        (JobState.CANCELLED,),
        JobState.CANCELLED,
        now=service.clock.now(),
        ledger=LedgerAction.REFUND,
    )
    assert again is not None
    rows = {r["job_id"]: r["status"] for r in await store.ledger()}
    assert rows == {kept.id: "settled", failed.id: "refunded", third.id: "reserved"}


async def test_the_workspace_monthly_cap_spans_its_users(store: AnyStore, tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 11, 30, 12, 0, tzinfo=UTC).timestamp())
    service = service_for(store, tmp_path, QuotaLimits(100, 100, 20), clock)
    await service.submit(REQUEST, origin(user="a"))
    await service.submit(REQUEST, origin(user="b"))
    with pytest.raises(QuotaExceeded) as refused:
        await service.submit(REQUEST, origin(user="c"))
    assert refused.value.limit == WORKSPACE_MONTHLY
    assert "2026-12-01 00:00 UTC" in refused.value.user_message
    await service.submit(REQUEST, origin(user="c", workspace="w2"))  # another workspace

    clock.advance(86_400)  # December
    await service.submit(REQUEST, origin(user="c"))


async def test_a_refused_submission_changes_nothing(store: AnyStore, tmp_path: Path) -> None:
    service = service_for(store, tmp_path, QuotaLimits(4, 100, 0))
    with pytest.raises(QuotaExceeded):
        await service.submit(REQUEST, origin())
    assert await store.recent_jobs(10) == []
    assert await store.ledger() == []


def test_the_decision_is_the_policys_alone_so_any_store_can_apply_it() -> None:
    """`quota.admission` takes what a store reads (the block, the limits in force, the usage)
    and answers without touching any store: the same policy for SQLite and whatever follows."""
    now = datetime(2026, 11, 22, 18, 30, tzinfo=UTC).timestamp()
    period = period_at(now)
    limits = QuotaLimits(user_daily_s=40, user_concurrent=2, workspace_monthly_s=100)

    def decide(
        used_today: float, in_flight: int, month: float, *, blocked: bool = False
    ) -> UserFacingError | None:
        usage = QuotaUsage("chat:w1:u1", used_today, in_flight, month)
        return quota.admission(
            blocked=blocked, limits=limits, usage=usage, cost_s=8, period=period, now=now
        )

    assert decide(32, 1, 92) is None  # exactly up to every limit
    blocked = decide(0, 0, 0, blocked=True)
    assert blocked is not None and blocked.code == "blocked"
    assert decide(0, 2, 0) is None  # over the number at once: it waits, not refused
    assert quota.must_wait(limits, QuotaUsage("chat:w1:u1", 0, 2, 0), queued=0)
    assert quota.must_wait(limits, QuotaUsage("chat:w1:u1", 0, 0, 0), queued=1)
    assert not quota.must_wait(limits, QuotaUsage("chat:w1:u1", 0, 1, 0), queued=0)
    none_at_once = quota.admission(
        blocked=False,
        limits=QuotaLimits(user_daily_s=40, user_concurrent=0, workspace_monthly_s=100),
        usage=QuotaUsage("chat:w1:u1", 0, 0, 0),
        cost_s=8,
        period=period,
        now=now,
    )
    assert isinstance(none_at_once, QuotaExceeded) and none_at_once.limit == USER_CONCURRENT
    daily = decide(33, 0, 0)
    assert isinstance(daily, QuotaExceeded) and daily.limit == USER_DAILY
    assert "resets at 2026-11-23 00:00 UTC (in 5h 30m)" in daily.user_message
    monthly = decide(0, 0, 93)
    assert isinstance(monthly, QuotaExceeded) and monthly.limit == WORKSPACE_MONTHLY
    unlimited = QuotaLimits(user_daily_s=40, user_concurrent=2, workspace_monthly_s=0)
    usage = QuotaUsage("chat:w1:u1", 0, 0, 10**9)
    assert (
        quota.admission(
            blocked=False, limits=unlimited, usage=usage, cost_s=8, period=period, now=now
        )
        is None
    )
