"""The `Store` contract, on every engine: each test runs on SQLite and on PostgreSQL (a fresh
file, or a fresh schema), through the store's own methods. Races between processes are real
processes (`tests/store_worker.py`) on one database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest

from bot import moderation
from bot.clock import ManualClock
from bot.config import ServiceConfig
from bot.errors import ConfigurationError, InvalidRequest, QuotaExceeded, UserFacingError
from bot.metrics import Metrics
from bot.models import (
    Authority,
    GenerationRequest,
    Job,
    JobState,
    MediaRole,
    QuotaLimits,
)
from bot.polling import HISTORY_TTL_S, Polling, quantile_points
from bot.ports import LedgerAction
from bot.quota import USER_CONCURRENT, USER_DAILY, WORKSPACE_MONTHLY, period_at
from bot.refs import load_refs
from storage import is_postgres, open_store, sqlite_path
from storage import postgres as pg_storage
from storage import sqlite as sqlite_storage
from tests import store_worker
from tests.support import origin

if TYPE_CHECKING:
    from storage import AnyStore

LIMITS = QuotaLimits(1000, 100, 0)
ROOMY = QuotaLimits(1_000_000, 10_000, 0)
NOW = 1_790_000_000.0
PERIOD = period_at(NOW)
REPO = Path(__file__).resolve().parents[1]


def job(
    job_id: str,
    platform: str = "chat",
    due_at: float = NOW,
    *,
    user: str = "u1",
    workspace: str = "w1",
    cost_s: float = 4,
    prompt: str = "p",
) -> Job:
    return Job(
        id=job_id,
        origin=origin(user=user, workspace=workspace, platform=platform),
        request=GenerationRequest(prompt=prompt, duration_s=4),
        provider="scripted",
        model="m",
        state=JobState.PENDING,
        created_at=NOW,
        updated_at=NOW,
        deadline_at=NOW + 600,
        cost_s=cost_s,
        due_at=due_at,
    )


def known_migrations(url: str) -> list[str]:
    module = pg_storage if is_postgres(url) else sqlite_storage
    return [name for _, name, _ in module.migrations()]


# --- schema ----------------------------------------------------------------------------------


async def test_a_new_database_is_migrated_to_the_latest_version(
    any_store: AnyStore, database_url: str
) -> None:
    assert await any_store.schema_version() == len(known_migrations(database_url)) >= 1


async def test_reopening_keeps_data_and_does_not_migrate_again(database_url: str) -> None:
    first = await open_store(database_url)
    await first.create_job(job("a"), [(MediaRole.FIRST_FRAME, 0, b"img\x00")], LIMITS, PERIOD)
    secret = await first.get_or_create_secret("webhook")
    await first.close()

    second = await open_store(database_url)
    try:
        stored = await second.get_job("a")
        assert stored is not None and stored.request.prompt == "p"
        assert await second.load_media("a") == {(MediaRole.FIRST_FRAME, 0): b"img\x00"}
        assert await second.get_or_create_secret("webhook") == secret
        assert await second.schema_version() == len(known_migrations(database_url))
    finally:
        await second.close()


async def test_a_database_from_a_newer_version_is_refused(database_url: str) -> None:
    store = await open_store(database_url)
    await store.close()
    if is_postgres(database_url):
        db = await asyncpg.connect(database_url)
        await db.execute("INSERT INTO schema_version (version, name) VALUES (999, 'future')")
        await db.close()
    else:
        with sqlite3.connect(sqlite_path(database_url)) as conn:
            conn.execute("PRAGMA user_version = 999")
    with pytest.raises(ConfigurationError, match="newer than this veo-bot"):
        await open_store(database_url)


# --- jobs ------------------------------------------------------------------------------------


async def test_a_job_reads_back_as_it_was_written(any_store: AnyStore) -> None:
    # Words people type go through whole, the characters PostgreSQL's text refuses included.
    written = job("a", prompt="a \x00 lighthouse \u202e at dawn 🌅 'quoted' \"twice\" \\")
    await any_store.create_job(written, [], LIMITS, PERIOD)
    assert await any_store.get_job("a") == written
    assert await any_store.get_job("missing") is None

    refs = load_refs(written.origin.platform, {"channel": "C1", "ts": "1.2"})
    moved = await any_store.update(
        "a",
        version=0,
        now=NOW + 1,
        origin=written.origin.model_copy(update={"refs": refs}),
        delivery_refs=load_refs(written.origin.platform, {"message": "m1"}),
        result_bytes=5_000_000_000,
        error_message="the provider said \x00",
        due_at=None,
    )
    assert moved is not None
    again = await any_store.get_job("a")
    assert again == moved
    assert again.origin.refs == refs
    assert again.delivery_refs is not None and again.delivery_refs.stored() == {"message": "m1"}
    assert again.result_bytes == 5_000_000_000 and again.due_at is None
    assert again.error_message is not None and again.error_message.startswith("the provider said")
    assert (again.updated_at, again.version) == (NOW + 1, 1)


async def test_transitions_are_compare_and_set(any_store: AnyStore) -> None:
    await any_store.create_job(job("a"), [], LIMITS, PERIOD)
    results = await asyncio.gather(
        *(
            any_store.transition(
                "a", (JobState.PENDING,), JobState.SUBMITTED, now=NOW, provider_job_id=f"p{i}"
            )
            for i in range(10)
        )
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert winners[0].state is JobState.SUBMITTED and winners[0].version == 1
    assert await any_store.get_job("a") == winners[0]
    assert await any_store.transition("a", (JobState.PENDING,), JobState.FAILED, now=NOW) is None
    assert await any_store.transition("nope", (JobState.PENDING,), JobState.FAILED, now=NOW) is None


async def test_updates_use_the_version_as_an_optimistic_lock(any_store: AnyStore) -> None:
    await any_store.create_job(job("a"), [], LIMITS, PERIOD)
    first = await any_store.update("a", version=0, now=NOW, progress=10)
    assert first is not None and first.progress == 10
    assert await any_store.update("a", version=0, now=NOW, progress=20) is None
    with pytest.raises(ValueError, match="cannot be changed"):
        await any_store.update("a", version=1, now=NOW, state="delivered")
    current = await any_store.get_job("a")
    assert current is not None and (current.progress, current.version) == (10, 1)


async def test_a_transition_settles_or_refunds_the_reservation_once(any_store: AnyStore) -> None:
    for name in ("kept", "failed", "open"):
        await any_store.create_job(job(name), [], LIMITS, PERIOD)
    await any_store.transition(
        "kept", (JobState.PENDING,), JobState.DELIVERED, now=NOW, ledger=LedgerAction.SETTLE
    )
    await any_store.transition(
        "failed", (JobState.PENDING,), JobState.FAILED, now=NOW, ledger=LedgerAction.REFUND
    )
    # A settled reservation is not refunded afterwards, nor a refunded one settled.
    await any_store.transition(
        "kept", (JobState.DELIVERED,), JobState.DELIVERED, now=NOW, ledger=LedgerAction.REFUND
    )
    await any_store.transition(
        "failed", (JobState.FAILED,), JobState.FAILED, now=NOW, ledger=LedgerAction.SETTLE
    )
    # A transition that loses its compare-and-set leaves the ledger alone.
    assert (
        await any_store.transition(
            "open", (JobState.RUNNING,), JobState.FAILED, now=NOW, ledger=LedgerAction.REFUND
        )
        is None
    )
    rows = {row["job_id"]: row["status"] for row in await any_store.ledger()}
    assert rows == {"kept": "settled", "failed": "refunded", "open": "reserved"}
    assert [row["job_id"] for row in await any_store.ledger(["open"])] == ["open"]
    usage = await any_store.quota_usage(origin().user_key, origin().workspace_key, PERIOD)
    assert (usage.used_today_s, usage.in_flight, usage.workspace_used_month_s) == (8, 1, 8)


async def test_claiming_leases_due_jobs_once(any_store: AnyStore) -> None:
    await any_store.create_job(job("due"), [], LIMITS, PERIOD)
    await any_store.create_job(job("later", due_at=NOW + 60), [], LIMITS, PERIOD)
    await any_store.create_job(job("elsewhere", platform="other"), [], LIMITS, PERIOD)

    claimed = await any_store.claim_due(now=NOW, lease_s=30, limit=10, platforms=["chat"])
    assert [j.id for j in claimed] == ["due"]
    assert claimed[0].due_at == NOW + 30 and claimed[0].version == 1
    assert await any_store.claim_due(now=NOW, lease_s=30, limit=10, platforms=["chat"]) == []
    assert await any_store.next_due_at(["chat"]) == NOW + 30
    assert await any_store.next_due_at(["chat"], exclude=["due"]) == NOW + 60
    assert await any_store.next_due_at([]) is None
    # A lease held by nobody known is not a dead worker's: it runs out in its time.
    assert await any_store.reschedule_active(now=NOW + 1, platforms=["chat"]) == 0
    again = await any_store.claim_due(
        now=NOW + 30, lease_s=30, limit=10, platforms=["chat"], exclude=["later"]
    )
    assert [j.id for j in again] == ["due"]
    assert await any_store.claim_due(now=NOW + 1, lease_s=30, limit=0, platforms=["chat"]) == []


async def test_a_lease_that_runs_out_lets_another_process_take_the_job(
    database_url: str,
) -> None:
    # The first process claimed the job and died: once its lease is over, the other takes it.
    first, second = await open_store(database_url), await open_store(database_url)
    try:
        await first.create_job(job("a"), [], LIMITS, PERIOD)
        [held] = await first.claim_due(now=NOW, lease_s=30, limit=10, platforms=["chat"])
        assert await second.claim_due(now=NOW + 29, lease_s=30, limit=10, platforms=["chat"]) == []
        [taken] = await second.claim_due(now=NOW + 30, lease_s=30, limit=10, platforms=["chat"])
        assert taken.id == "a" and taken.due_at == NOW + 60
        # What the first one still writes from its old version loses.
        assert await first.update("a", version=held.version, now=NOW + 31, progress=50) is None
    finally:
        await first.close()
        await second.close()


async def test_finished_jobs_are_never_due(any_store: AnyStore) -> None:
    await any_store.create_job(job("a"), [], LIMITS, PERIOD)
    await any_store.transition("a", (JobState.PENDING,), JobState.CANCELLED, now=NOW)
    assert await any_store.claim_due(now=NOW + 1, lease_s=30, limit=10, platforms=["chat"]) == []
    assert await any_store.next_due_at(["chat"]) is None
    assert await any_store.reschedule_active(now=NOW, platforms=["chat"]) == 0


async def test_cancelling_writes_at_any_point_never_leaves_a_transaction_open(
    any_store: AnyStore,
) -> None:
    await any_store.create_job(job("a"), [], LIMITS, PERIOD)
    for steps in range(40):
        task = asyncio.create_task(
            any_store.claim_due(now=NOW, lease_s=0, limit=10, platforms=["chat"])
        )
        for _ in range(steps % 8):
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        # the next write goes through: no transaction left open, no lock left held
        current = await any_store.get_job("a")
        assert current is not None
        assert await any_store.update("a", version=current.version, now=NOW) is not None


async def test_listings_counts_and_media(any_store: AnyStore) -> None:
    for index, user in enumerate(("u1", "u2", "u1")):
        made = replace(job(f"j{index}", user=user), created_at=NOW + index)
        await any_store.create_job(
            made, [(MediaRole.REFERENCE, index, bytes([index]) * 3)], LIMITS, PERIOD
        )
    await any_store.transition("j0", (JobState.PENDING,), JobState.FAILED, now=NOW)
    assert [j.id for j in await any_store.recent_jobs(10)] == ["j2", "j1", "j0"]
    assert [j.id for j in await any_store.recent_jobs(1)] == ["j2"]
    u1 = origin(user="u1").user_key
    assert [j.id for j in await any_store.recent_jobs(10, u1)] == ["j2", "j0"]
    assert await any_store.count_by_state() == {JobState.PENDING: 2, JobState.FAILED: 1}
    assert await any_store.load_media("j1") == {(MediaRole.REFERENCE, 1): b"\x01\x01\x01"}
    assert await any_store.load_media("none") == {}


async def test_idempotency_keys_make_one_job_charged_once(database_url: str) -> None:
    # Two processes' worth of stores, the same platform event delivered to both at once.
    first, second = await open_store(database_url), await open_store(database_url)
    try:
        made = await asyncio.gather(
            *(
                store.create_job(job(f"j{i}-{n}"), [], LIMITS, PERIOD, idempotency_key="event-1")
                for i in range(6)
                for n, store in enumerate((first, second))
            )
        )
        assert len({j.id for j in made}) == 1
        assert [row["job_id"] for row in await first.ledger()] == [made[0].id]
        other = await second.create_job(job("other"), [], LIMITS, PERIOD, idempotency_key="event-2")
        assert other.id == "other"
    finally:
        await first.close()
        await second.close()


# --- quota -----------------------------------------------------------------------------------


async def test_a_reservation_past_a_limit_is_refused_and_changes_nothing(
    any_store: AnyStore,
) -> None:
    limits = QuotaLimits(user_daily_s=10, user_concurrent=2, workspace_monthly_s=20)
    await any_store.create_job(job("a", cost_s=6), [], limits, PERIOD)
    with pytest.raises(QuotaExceeded) as daily:
        await any_store.create_job(
            job("b", cost_s=6), [(MediaRole.FIRST_FRAME, 0, b"x")], limits, PERIOD
        )
    assert (daily.value.limit, daily.value.used, daily.value.allowed) == (USER_DAILY, 6, 10)
    await any_store.create_job(job("c", cost_s=3), [], limits, PERIOD)
    # Over the number at once: not refused, it waits, its second reserved all the same.
    queued = await any_store.create_job(job("d", cost_s=1), [], limits, PERIOD)
    assert queued.state is JobState.QUEUED
    zero = QuotaLimits(user_daily_s=10, user_concurrent=0, workspace_monthly_s=20)
    with pytest.raises(QuotaExceeded) as concurrent:
        await any_store.create_job(job("g", user="u4", cost_s=1), [], zero, PERIOD)
    assert concurrent.value.limit == USER_CONCURRENT
    await any_store.create_job(job("e", user="u2", cost_s=10), [], limits, PERIOD)
    with pytest.raises(QuotaExceeded) as monthly:
        await any_store.create_job(job("f", user="u3", cost_s=1), [], limits, PERIOD)
    assert (monthly.value.limit, monthly.value.used) == (WORKSPACE_MONTHLY, 20)
    # check_quota says the same and reserves nothing.
    with pytest.raises(QuotaExceeded):
        await any_store.check_quota(origin(user="u3"), 1, limits, PERIOD, now=NOW)
    await any_store.check_quota(origin(user="u3", workspace="w2"), 1, limits, PERIOD, now=NOW)

    assert {j.id for j in await any_store.recent_jobs(10)} == {"a", "c", "d", "e"}
    assert {r["job_id"] for r in await any_store.ledger()} == {"a", "c", "d", "e"}
    assert await any_store.load_media("b") == {}


async def test_a_blocked_user_is_refused_until_unblocked(any_store: AnyStore) -> None:
    user = origin().user_key
    assert await any_store.set_blocked(user, True, now=NOW) is True
    assert await any_store.set_blocked(user, True, now=NOW) is False
    assert await any_store.blocked_users() == [user]
    with pytest.raises(UserFacingError) as refused:
        await any_store.create_job(job("a"), [], LIMITS, PERIOD)
    assert refused.value.code == "blocked"
    with pytest.raises(UserFacingError):
        await any_store.check_quota(origin(), 4, LIMITS, PERIOD, now=NOW)
    assert await any_store.set_blocked(user, False, now=NOW) is True
    assert await any_store.set_blocked(user, False, now=NOW) is False
    await any_store.create_job(job("a"), [], LIMITS, PERIOD)


async def test_a_reset_day_counts_only_what_comes_after(any_store: AnyStore) -> None:
    limits = QuotaLimits(8, 100, 0)
    await any_store.create_job(job("a", cost_s=8), [], limits, PERIOD)
    await any_store.reset_day(origin().user_key, PERIOD.day, now=NOW)
    later = replace(job("b", cost_s=8), created_at=NOW + 1)
    await any_store.create_job(later, [], limits, PERIOD)
    usage = await any_store.quota_usage(origin().user_key, origin().workspace_key, PERIOD)
    assert (usage.used_today_s, usage.in_flight, usage.workspace_used_month_s) == (8, 2, 16)


async def test_overrides_are_kept_per_authority_and_the_tighter_applies(
    any_store: AnyStore,
) -> None:
    user, workspace = origin().user_key, origin().workspace_key
    defaults = QuotaLimits(40, 2, 0)
    await any_store.set_override("user", user, set_by=Authority.OPERATOR, now=NOW, daily_s=100)
    await any_store.set_override(
        "user", user, set_by=Authority.WORKSPACE_ADMIN, now=NOW, daily_s=60, concurrent=5
    )
    await any_store.set_override(
        "workspace", workspace, set_by=Authority.OPERATOR, now=NOW, monthly_s=500
    )
    # A limit not given stays as it was.
    await any_store.set_override("user", user, set_by=Authority.OPERATOR, now=NOW, concurrent=3)
    assert await any_store.effective_limits(user, workspace, defaults) == QuotaLimits(60, 3, 500)
    assert len(await any_store.limit_overrides(user, workspace)) == 3
    assert len(await any_store.limit_overrides(None, workspace)) == 1
    rows = [(r.scope, r.set_by.value, r.daily_s, r.concurrent) for r in await any_store.overrides()]
    assert rows == [
        ("user", "operator", 100, 3),
        ("user", "workspace_admin", 60, 5),
        ("workspace", "operator", None, None),
    ]
    # The limits in force are the ones a reservation meets.
    await any_store.create_job(job("a", cost_s=50), [], defaults, PERIOD)
    with pytest.raises(QuotaExceeded) as refused:
        await any_store.create_job(job("b", cost_s=20), [], defaults, PERIOD)
    assert (refused.value.limit, refused.value.allowed) == (USER_DAILY, 60)

    assert await any_store.clear_override("user", user, set_by=Authority.WORKSPACE_ADMIN)
    assert not await any_store.clear_override("user", user, set_by=Authority.WORKSPACE_ADMIN)
    assert await any_store.effective_limits(user, workspace, defaults) == QuotaLimits(100, 3, 500)
    assert await any_store.clear_override("workspace", workspace)
    assert await any_store.clear_override("user", user)
    assert await any_store.overrides() == []


async def test_the_usage_report_sums_the_ledger_by_user(any_store: AnyStore) -> None:
    await any_store.create_job(job("a", user="u1", cost_s=8), [], LIMITS, PERIOD)
    await any_store.create_job(job("b", user="u2", cost_s=4), [], LIMITS, PERIOD)
    await any_store.create_job(job("c", user="u2", cost_s=6), [], LIMITS, PERIOD)
    await any_store.create_job(job("d", user="u3", workspace="w2", cost_s=2), [], LIMITS, PERIOD)
    await any_store.transition(
        "b", (JobState.PENDING,), JobState.FAILED, now=NOW, ledger=LedgerAction.REFUND
    )
    await any_store.transition(
        "c", (JobState.PENDING,), JobState.DELIVERED, now=NOW, ledger=LedgerAction.SETTLE
    )

    report = await any_store.usage_report(PERIOD.month)
    assert [(r.user_key, r.jobs, r.settled_s, r.reserved_s, r.refunded_jobs) for r in report] == [
        ("chat:w1:u1", 1, 0, 8, 0),
        ("chat:w1:u2", 2, 6, 0, 1),
        ("chat:w2:u3", 1, 0, 2, 0),
    ]
    only = await any_store.usage_report(PERIOD.month, "chat:w2")
    assert [r.user_key for r in only] == ["chat:w2:u3"]
    assert await any_store.usage_report("1999-01") == []


# --- what admins steer -------------------------------------------------------------------------


async def test_banned_terms_are_kept_per_workspace_up_to_a_cap(any_store: AnyStore) -> None:
    assert await any_store.set_banned_term("w1", "gore", True, now=NOW, max_terms=2)
    assert not await any_store.set_banned_term("w1", "gore", True, now=NOW, max_terms=2)
    assert await any_store.set_banned_term("w1", "re:bl(oo)d", True, now=NOW, max_terms=2)
    with pytest.raises(InvalidRequest) as refused:
        await any_store.set_banned_term("w1", "third", True, now=NOW, max_terms=2)
    assert refused.value.user_message == moderation.too_many_terms().user_message
    # A term already there is no new term, even at the cap.
    assert not await any_store.set_banned_term("w1", "gore", True, now=NOW, max_terms=2)
    assert await any_store.banned_terms("w1") == ["gore", "re:bl(oo)d"]
    assert await any_store.banned_terms("w2") == []
    assert await any_store.set_banned_term("w1", "gore", False, now=NOW)
    assert not await any_store.set_banned_term("w1", "gore", False, now=NOW)
    assert await any_store.banned_terms("w1") == ["re:bl(oo)d"]


async def test_admins_adding_terms_at_once_never_pass_the_cap(database_url: str) -> None:
    first, second = await open_store(database_url), await open_store(database_url)
    try:
        outcomes = await asyncio.gather(
            *(
                store.set_banned_term("w1", f"t{i}-{n}", True, now=NOW, max_terms=5)
                for i in range(10)
                for n, store in enumerate((first, second))
            ),
            return_exceptions=True,
        )
        assert sum(1 for o in outcomes if o is True) == 5
        assert all(isinstance(o, InvalidRequest) for o in outcomes if o is not True)
        assert len(await first.banned_terms("w1")) == 5
    finally:
        await first.close()
        await second.close()


async def test_a_revoked_result_stays_revoked(any_store: AnyStore) -> None:
    await any_store.create_job(job("a"), [], LIMITS, PERIOD)
    assert not await any_store.result_revoked("a")
    assert await any_store.revoke_result("a", by="u1", now=NOW)
    assert not await any_store.revoke_result("a", by="u2", now=NOW)
    assert await any_store.result_revoked("a")
    assert not await any_store.result_revoked("b")


async def test_the_retention_sweep_finds_finished_jobs_and_purges_their_media(
    any_store: AnyStore,
) -> None:
    for name in ("done", "old", "active"):
        await any_store.create_job(job(name), [(MediaRole.FIRST_FRAME, 0, b"i")], LIMITS, PERIOD)
    await any_store.transition("old", (JobState.PENDING,), JobState.FAILED, now=NOW + 10)
    await any_store.transition("done", (JobState.PENDING,), JobState.DELIVERED, now=NOW + 20)
    expired = await any_store.expired_jobs(finished_before=NOW + 30, limit=10)
    assert [j.id for j in expired] == ["old", "done"]
    assert [j.id for j in await any_store.expired_jobs(finished_before=NOW + 15, limit=10)] == [
        "old"
    ]
    await any_store.mark_purged("old", now=NOW + 40)
    assert await any_store.load_media("old") == {}
    assert await any_store.load_media("active") != {}
    assert [j.id for j in await any_store.expired_jobs(finished_before=NOW + 50, limit=10)] == [
        "done"
    ]


async def test_a_secret_is_made_once_for_every_process(database_url: str) -> None:
    stores = [await open_store(database_url) for _ in range(3)]
    try:
        values = await asyncio.gather(*(s.get_or_create_secret("webhook") for s in stores))
        assert len(set(values)) == 1 and len(values[0]) >= 32
        assert await stores[0].get_or_create_secret("other") != values[0]
    finally:
        for store in stores:
            await store.close()


async def test_the_store_answers_a_ping(any_store: AnyStore) -> None:
    await any_store.ping()


# --- several processes on one database ---------------------------------------------------------


async def race(action: str, url: str, *args: str, processes: int = 2) -> list[dict[str, Any]]:
    """Start `processes` workers, let them all open the database, then start them at once;
    what each got."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.store_worker",
            action,
            url,
            *args,
            cwd=REPO,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(processes)
    ]
    try:
        async with asyncio.timeout(60):
            for worker in workers:
                assert worker.stdout is not None
                assert (await worker.stdout.readline()).strip() == b"ready"
            for worker in workers:
                assert worker.stdin is not None
                worker.stdin.write(b"go\n")
                await worker.stdin.drain()
            outputs = [await worker.communicate() for worker in workers]
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
    results = []
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err.decode()
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    return results


async def test_two_processes_reserving_at_once_never_overspend(
    any_store: AnyStore, database_url: str
) -> None:
    limits = store_worker.LIMITS
    # One user (in a workspace of their own), contended: 4 jobs of 10 s fit in 40 s,
    # whichever process asks.
    one_user = await race("reserve", database_url, "60", "alone")
    assert sum(len(r["accepted"]) for r in one_user) == 4
    # 50 users in one workspace with 1,500 s: exactly 150 jobs, no user past 4.
    many = await race("reserve", database_url, "400")
    accepted = [job_id for r in many for job_id in r["accepted"]]
    assert len(accepted) == 150

    rows = await any_store.ledger()
    charged: Counter[str] = Counter()
    for row in rows:
        charged[row["user_key"]] += row["seconds"]
    assert max(charged.values()) <= limits.user_daily_s
    workspace = sum(row["seconds"] for row in rows if row["workspace_key"] == "chat:w1")
    assert workspace == limits.workspace_monthly_s
    assert len(await any_store.recent_jobs(1000)) == len(rows) == 154


async def test_two_processes_claiming_at_once_never_take_the_same_job(
    any_store: AnyStore, database_url: str
) -> None:
    for index in range(300):
        await any_store.create_job(job(f"j{index:03}"), [], ROOMY, PERIOD)
    got = await race("claim", database_url, "7")
    first, second = (set(r["claimed"]) for r in got)
    assert not first & second
    assert first | second == {f"j{index:03}" for index in range(300)}
    assert sum(len(r["claimed"]) for r in got) == 300


async def test_processes_migrating_a_new_database_at_once_apply_each_migration_once(
    database_url: str,
) -> None:
    names = known_migrations(database_url)
    got = await race("migrate", database_url, processes=4)
    # Each one applied by one process (not always the same one: between two migrations
    # another may take its turn), none twice, none failing.
    assert sorted(name for r in got for name in r["applied"]) == sorted(names)
    assert {r["version"] for r in got} == {len(names)}
    store = await open_store(database_url)
    try:
        assert await store.schema_version() == len(names)
    finally:
        await store.close()


async def test_user_history_pages_by_keyset(any_store: AnyStore) -> None:
    # Two jobs share a moment: the id breaks the tie, so no page repeats or skips one.
    moments = {"h0": NOW, "h1": NOW + 1, "h2": NOW + 1, "h3": NOW + 2, "x": NOW + 3}
    for job_id, moment in moments.items():
        made = replace(job(job_id, user="other" if job_id == "x" else "u1"), created_at=moment)
        await any_store.create_job(made, [], ROOMY, PERIOD)
    user = origin(user="u1").user_key
    first = await any_store.user_history(user, limit=2)
    assert [j.id for j in first] == ["h3", "h2"]
    last = first[-1]
    second = await any_store.user_history(user, limit=2, before=(last.created_at, last.id))
    assert [j.id for j in second] == ["h1", "h0"]
    tail = second[-1]
    assert await any_store.user_history(user, limit=2, before=(tail.created_at, tail.id)) == []
    assert await any_store.user_history("nobody", limit=5) == []


async def test_home_workspace_is_where_the_person_last_asked(any_store: AnyStore) -> None:
    assert await any_store.home_workspace("chat", "u1") is None
    made = [
        ("h0", "w1", "u1", NOW),
        ("h1", "w2", "u1", NOW + 1),
        ("h2", "dm", "u1", NOW + 2),  # a direct message from before they had a home
        ("h3", "w3", "u1_", NOW + 3),  # another person whose id holds a LIKE wildcard
        ("h4", "w4", "u11", NOW + 4),
    ]
    for job_id, workspace, user, moment in made:
        await any_store.create_job(
            replace(job(job_id, user=user, workspace=workspace), created_at=moment),
            [],
            ROOMY,
            PERIOD,
        )
    assert await any_store.home_workspace("chat", "u1") == "w2"
    assert await any_store.home_workspace("chat", "u1_") == "w3"
    assert await any_store.home_workspace("other", "u1") is None


async def test_completion_times_are_kept_per_model_from_submit_to_done(any_store: AnyStore) -> None:
    # (job, model, submitted after NOW, done after NOW, how it ended)
    made = [
        ("d0", "m1", 0.0, 40.0, JobState.SUCCEEDED),
        ("d1", "m1", 10.0, 100.0, JobState.SUCCEEDED),
        ("d2", "m2", 0.0, 7.0, JobState.SUCCEEDED),
        ("d3", "m1", 0.0, 500.0, JobState.FAILED),  # a failure is no completion time
    ]
    for job_id, model, submitted, done, end in made:
        await any_store.create_job(replace(job(job_id), model=model), [], ROOMY, PERIOD)
        await any_store.transition(
            job_id, (JobState.PENDING,), JobState.SUBMITTED, now=NOW + submitted
        )
        # A second submit (a retry) does not move the first moment.
        await any_store.transition(
            job_id, (JobState.SUBMITTED,), JobState.SUBMITTED, now=NOW + submitted + 5
        )
        await any_store.transition(job_id, (JobState.SUBMITTED,), end, now=NOW + done)
    assert await any_store.recent_durations("m1", 10) == [90.0, 40.0]
    assert await any_store.recent_durations("m1", 1) == [90.0]
    assert await any_store.recent_durations("m2", 10) == [7.0]
    assert await any_store.recent_durations("nobody", 10) == []
    # The poller follows them once there are enough: the model's quantiles, read again
    # once their time is up.
    clock = ManualClock(NOW + 600)
    polling = Polling(
        store=any_store,
        config=ServiceConfig(default_provider="local", limits=ROOMY, work_dir=Path("unused")),
        clock=clock,
        metrics=Metrics(),
        links=None,
    )
    assert await polling.points("m1") == []  # two completions are no distribution yet
    for n, took in enumerate((30.0, 50.0, 60.0, 20.0)):
        job_id = f"e{n}"
        await any_store.create_job(replace(job(job_id), model="m1"), [], ROOMY, PERIOD)
        start = NOW + 600 + 100 * n
        await any_store.transition(job_id, (JobState.PENDING,), JobState.SUBMITTED, now=start)
        await any_store.transition(
            job_id, (JobState.SUBMITTED,), JobState.SUCCEEDED, now=start + took
        )
        if n == 2:
            clock.advance(HISTORY_TTL_S)
            assert await polling.points("m1") == quantile_points([60, 50, 30, 90, 40])
    assert await polling.points("m1") == quantile_points([60, 50, 30, 90, 40])  # still cached
    clock.advance(HISTORY_TTL_S)
    assert await polling.points("m1") == quantile_points([20, 60, 50, 30, 90, 40])
