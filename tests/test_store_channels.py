"""The `Store` contract for channel rules, on SQLite and PostgreSQL: the rules read back as
written, and a channel's daily budget is enforced inside the reservation, exactly, even by two
processes reserving at once."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from typing import TYPE_CHECKING

import asyncpg
import pytest

from bot.channels import EVERY_CHANNEL, ChannelRule
from bot.errors import QuotaExceeded
from bot.models import JobState
from bot.ports import LedgerAction
from bot.quota import CHANNEL_DAILY
from storage import is_postgres, open_store, sqlite_path
from storage import postgres as pg_storage
from storage import sqlite as sqlite_storage
from tests.test_store_conformance import LIMITS, NOW, PERIOD, job, race

if TYPE_CHECKING:
    from storage import AnyStore

WS = "chat:w1"


def _before_channel_rules(known: list[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
    """The migrations a database had before channel rules existed."""
    cut = next(i for i, (_, name, _) in enumerate(known) if "channel_rules" in name)
    return known[:cut]


async def test_channel_rules_read_back_as_written(any_store: AnyStore) -> None:
    assert await any_store.channel_rules(WS) == []
    written = await any_store.set_channel_rule(
        WS,
        "c1",
        {
            "open": True,
            "provider": "local",
            "model": "m",
            "aspect_ratio": "9:16",
            "private": True,
            "daily_s": 12.5,
            "person_generation": "dont_allow",
        },
        now=NOW,
    )
    assert written == ChannelRule(WS, "c1", True, "local", "m", "9:16", True, 12.5, "dont_allow")
    await any_store.set_channel_rule(WS, EVERY_CHANNEL, {"open": False}, now=NOW)
    await any_store.set_channel_rule("chat:other", "c1", {"private": False}, now=NOW)
    # Changing some columns keeps the others; None means nothing said.
    changed = await any_store.set_channel_rule(
        WS, "c1", {"aspect_ratio": None, "private": False}, now=NOW + 1
    )
    assert changed == ChannelRule(WS, "c1", True, "local", "m", None, False, 12.5, "dont_allow")
    assert await any_store.channel_rules(WS) == [
        ChannelRule(WS, EVERY_CHANNEL, open=False),
        changed,
    ]
    assert await any_store.channel_rules("chat:other") == [
        ChannelRule("chat:other", "c1", private=False)
    ]


async def test_a_rule_that_says_nothing_is_gone(any_store: AnyStore) -> None:
    await any_store.set_channel_rule(WS, "c1", {"open": False}, now=NOW)
    await any_store.set_channel_rule(WS, "c1", {"open": None}, now=NOW)
    assert await any_store.channel_rules(WS) == []
    await any_store.set_channel_rule(WS, "c2", {"daily_s": 0.0}, now=NOW)
    assert await any_store.clear_channel_rule(WS, "c2") is True
    assert await any_store.clear_channel_rule(WS, "c2") is False
    assert await any_store.channel_rules(WS) == []


async def test_an_unknown_column_is_refused_and_changes_nothing(any_store: AnyStore) -> None:
    with pytest.raises(ValueError, match="do not exist"):
        await any_store.set_channel_rule(WS, "c1", {"open": True, "user_key": "x"}, now=NOW)
    assert await any_store.channel_rules(WS) == []


async def test_a_channel_budget_refuses_past_it_and_frees_on_refund(any_store: AnyStore) -> None:
    await any_store.set_channel_rule(WS, "c1", {"daily_s": 10.0}, now=NOW)
    # Two people, one channel: the channel's 10 s are shared.
    await any_store.create_job(job("a", user="u1", cost_s=6), [], LIMITS, PERIOD)
    with pytest.raises(QuotaExceeded) as refused:
        await any_store.create_job(job("b", user="u2", cost_s=6), [], LIMITS, PERIOD)
    assert refused.value.limit == CHANNEL_DAILY
    assert (refused.value.used, refused.value.allowed) == (6, 10)
    assert "this channel has 4 s of its 10 s for today left" in refused.value.user_message
    with pytest.raises(QuotaExceeded):
        await any_store.check_quota(job("b").origin, 6, LIMITS, PERIOD, now=NOW)
    assert await any_store.get_job("b") is None
    assert await any_store.channel_used_today("chat:w1:c1", PERIOD.day) == 6
    # A job that fails gives its seconds back to the channel too.
    await any_store.transition(
        "a", (JobState.PENDING,), JobState.FAILED, now=NOW, ledger=LedgerAction.REFUND
    )
    assert await any_store.channel_used_today("chat:w1:c1", PERIOD.day) == 0
    await any_store.create_job(job("b", user="u2", cost_s=6), [], LIMITS, PERIOD)


async def test_the_workspace_budget_applies_to_each_channel_unless_its_own_says(
    any_store: AnyStore,
) -> None:
    await any_store.set_channel_rule(WS, EVERY_CHANNEL, {"daily_s": 4.0}, now=NOW)
    await any_store.set_channel_rule(WS, "big", {"daily_s": 100.0}, now=NOW)
    first = job("a")
    await any_store.create_job(first, [], LIMITS, PERIOD)
    with pytest.raises(QuotaExceeded):
        await any_store.create_job(job("b"), [], LIMITS, PERIOD)
    # Every other channel has the same budget of its own (not a share of one), and a
    # channel's own budget wins over the workspace's.
    for job_id, channel in (("c", "c2"), ("d", "big"), ("e", "big")):
        moved = job(job_id)
        where = moved.origin.model_copy(update={"channel_id": channel})
        await any_store.create_job(replace(moved, origin=where), [], LIMITS, PERIOD)
    assert await any_store.channel_used_today("chat:w1:big", PERIOD.day) == 8
    assert await any_store.channel_used_today("chat:w1:c2", PERIOD.day) == 4
    assert await any_store.channel_used_today(first.origin.channel_key, PERIOD.day) == 4


async def test_two_processes_reserving_at_once_never_pass_a_channel_budget(
    any_store: AnyStore, database_url: str
) -> None:
    # 50 people in one channel (c1) with 100 s a day: exactly 10 jobs of 10 s, whoever asks.
    await any_store.set_channel_rule("chat:w1", "c1", {"daily_s": 100.0}, now=NOW)
    results = await race("reserve", database_url, "60")
    assert sum(len(r["accepted"]) for r in results) == 10
    assert await any_store.channel_used_today("chat:w1:c1", PERIOD.day) == 100


async def test_reservations_from_before_the_upgrade_count_against_their_channel(
    database_url: str,
) -> None:
    """Jobs reserved before channel rules existed have their channel filled in from the job,
    so a budget set on the day of the upgrade counts what that day already used."""
    before = job("old", cost_s=6)
    if is_postgres(database_url):
        known = _before_channel_rules(pg_storage.migrations())
        db = await asyncpg.connect(database_url)
        try:
            await db.execute(
                """CREATE TABLE schema_version (version integer PRIMARY KEY, name text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            for version, name, sql in known:
                await db.execute(sql)
                await db.execute("INSERT INTO schema_version VALUES ($1, $2)", version, name)
            await db.execute(
                """INSERT INTO jobs (id, platform, user_key, workspace_key, origin, request,
                       provider, model, state, deadline_at, cost_s, created_at, updated_at)
                   VALUES ('old', 'chat', $1, $2, $3, $4, 'scripted', 'm', 'pending', $5, 6,
                           $5, $5)""",
                before.origin.user_key,
                before.origin.workspace_key,
                before.origin.model_dump_json(),
                before.request.model_dump_json(),
                NOW,
            )
            await db.execute(
                """INSERT INTO quota_ledger (job_id, user_key, workspace_key, day, month,
                       seconds, status, created_at, updated_at)
                   VALUES ('old', $1, $2, $3, $4, 6, 'reserved', $5, $5)""",
                before.origin.user_key,
                before.origin.workspace_key,
                PERIOD.day,
                PERIOD.month,
                NOW,
            )
        finally:
            await db.close()
    else:
        with sqlite3.connect(sqlite_path(database_url)) as conn:
            for version, _name, sql in _before_channel_rules(sqlite_storage.migrations()):
                conn.executescript(f"{sql}\nPRAGMA user_version = {version};")
            conn.execute(
                """INSERT INTO jobs (id, platform, user_key, workspace_key, origin_json,
                       request_json, provider, model, state, progress, deadline_at, cost_s,
                       created_at, updated_at, version)
                   VALUES ('old', 'chat', ?, ?, ?, ?, 'scripted', 'm', 'pending', 0, ?, 6,
                           ?, ?, 0)""",
                (
                    before.origin.user_key,
                    before.origin.workspace_key,
                    before.origin.model_dump_json(),
                    before.request.model_dump_json(),
                    NOW,
                    NOW,
                    NOW,
                ),
            )
            conn.execute(
                """INSERT INTO quota_ledger (job_id, user_key, workspace_key, day, month,
                       seconds, status, created_at, updated_at)
                   VALUES ('old', ?, ?, ?, ?, 6, 'reserved', ?, ?)""",
                (
                    before.origin.user_key,
                    before.origin.workspace_key,
                    PERIOD.day,
                    PERIOD.month,
                    NOW,
                    NOW,
                ),
            )
    store = await open_store(database_url)
    try:
        assert await store.channel_used_today(before.origin.channel_key, PERIOD.day) == 6
        await store.set_channel_rule(WS, "c1", {"daily_s": 10.0}, now=NOW)
        with pytest.raises(QuotaExceeded):
            await store.create_job(job("new", cost_s=6), [], LIMITS, PERIOD)
    finally:
        await store.close()
