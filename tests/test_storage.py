"""What is SQLite's own in the SQLite store: WAL, the partial index as SQLite uses it, one
serving process. The contract both stores keep is tests/test_store_conformance.py."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from bot.errors import ConfigurationError
from bot.models import (
    GenerationRequest,
    Job,
    JobState,
    ProviderJobState,
    ProviderStatus,
    QuotaLimits,
)
from bot.quota import period_at
from bot.refs import ConsoleRefs, DiscordRefs, Refs, SlackRefs
from bot.scheduler import Scheduler
from storage.sqlite import ACTIVE_AS_INDEXED, SqliteStore, migrations
from tests.support import RecordingSurface, ScriptedJob, ScriptedProvider, make_service, origin

pytestmark = pytest.mark.sqlite_only

LIMITS = QuotaLimits(1000, 100, 0)
NOW = 1_790_000_000.0


def job(job_id: str, platform: str = "chat", due_at: float = NOW) -> Job:
    return Job(
        id=job_id,
        origin=origin(platform=platform),
        request=GenerationRequest(prompt="p", duration_s=4),
        provider="scripted",
        model="m",
        state=JobState.PENDING,
        created_at=NOW,
        updated_at=NOW,
        deadline_at=NOW + 600,
        cost_s=4,
        due_at=due_at,
    )


async def test_a_new_database_is_migrated_to_the_latest_version_in_wal_mode(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "sub" / "veo.db")
    try:
        assert await store.schema_version() == len(migrations()) >= 1
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / "sub" / "veo.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"jobs", "job_media", "quota_ledger", "secrets"} <= tables


async def test_the_schedulers_queries_use_the_partial_index_of_active_jobs(
    store: SqliteStore, tmp_path: Path
) -> None:
    # SQLite uses a partial index only when the query repeats its condition word for word; a
    # scan here would read every job ever made on each scheduler pass.
    with sqlite3.connect(tmp_path / "veo.db") as db:
        for query in (
            f"SELECT id FROM jobs WHERE {ACTIVE_AS_INDEXED} AND due_at <= ? "
            "AND platform IN (?) ORDER BY due_at LIMIT ?",
            f"SELECT MIN(due_at) FROM jobs WHERE {ACTIVE_AS_INDEXED} AND platform IN (?)",
        ):
            params = (0.0, "slack", 10) if "LIMIT" in query else ("slack",)
            plan = " ".join(row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {query}", params))
            assert "USING INDEX jobs_due" in plan, plan


async def test_one_store_at_a_time_serves_a_file_and_closing_lets_the_next(
    tmp_path: Path,
) -> None:
    serving = await SqliteStore.open(tmp_path / "veo.db", sole_server=True)
    beside = await SqliteStore.open(tmp_path / "veo.db")  # `veo-bot try`, `veo-bot jobs`
    try:
        with pytest.raises(ConfigurationError, match="use PostgreSQL"):
            await SqliteStore.open(tmp_path / "veo.db", sole_server=True)
        other = await SqliteStore.open(tmp_path / "other.db", sole_server=True)
        await other.close()
    finally:
        await beside.close()
        await serving.close()
    again = await SqliteStore.open(tmp_path / "veo.db", sole_server=True)
    await again.close()


async def test_jobs_in_flight_in_a_database_from_before_due_at_resume_after_the_upgrade(
    tmp_path: Path,
) -> None:
    """A database at version 6 (`next_poll_at`, and `poll_failures` counting deliveries too)
    with jobs at the provider and one whose delivery failed three times: opened by this
    version, the schedule and the counts carry over, and every job ends delivered, once."""
    path = tmp_path / "veo.db"
    now = time.time()
    request = GenerationRequest(prompt="harbour at dawn", model="scripted-1", duration_s=8)
    rows = {  # id: (state, provider job id, poll_failures, next_poll_at)
        "running1": ("running", "p-running1", 2, now - 5),
        "submitted": ("submitted", "p-submitted", 0, now + 3600),
        "delivering": ("delivering", "p-delivering", 3, now + 3600),
    }
    with sqlite3.connect(path) as db:
        for version, _name, sql in migrations()[:6]:
            db.executescript(f"{sql}\nPRAGMA user_version = {version};")
        for job_id, (state, provider_job_id, failures, due) in rows.items():
            db.execute(
                """INSERT INTO jobs (id, platform, user_key, workspace_key, origin_json,
                       request_json, provider, model, state, progress, provider_job_id,
                       submit_attempts, poll_failures, next_poll_at, deadline_at, cost_s,
                       created_at, updated_at, version)
                   VALUES (?, 'chat', 'chat:w1:u1', 'chat:w1', ?, ?, 'scripted', 'scripted-1',
                           ?, 40, ?, 1, ?, ?, ?, 8, ?, ?, 3)""",
                (
                    job_id,
                    origin().model_dump_json(),
                    request.model_dump_json(),
                    state,
                    provider_job_id,
                    failures,
                    due,
                    now + 600,
                    now - 60,
                    now - 30,
                ),
            )
            db.execute(
                """INSERT INTO quota_ledger (job_id, user_key, workspace_key, day, month,
                       seconds, status, created_at, updated_at)
                   VALUES (?, 'chat:w1:u1', 'chat:w1', ?, ?, 8, 'reserved', ?, ?)""",
                (job_id, period_at(now).day, period_at(now).month, now - 60, now - 60),
            )

    store = await SqliteStore.open(path)
    try:
        assert await store.schema_version() == len(migrations()) >= 7
        counts = {}
        for job_id, (_state, _pid, _failures, due) in rows.items():
            upgraded = await store.get_job(job_id)
            assert upgraded is not None and upgraded.due_at == due
            counts[job_id] = (upgraded.poll_failures, upgraded.delivery_failures)
        assert counts == {"running1": (2, 0), "submitted": (0, 0), "delivering": (0, 3)}

        provider = ScriptedProvider()
        for _job_id, (_state, provider_job_id, _failures, _due) in rows.items():
            provider.jobs[provider_job_id] = ScriptedJob(
                request, [ProviderStatus(ProviderJobState.SUCCEEDED, video_url="mem://v")]
            )
        surface = RecordingSurface()
        service = make_service(
            store, tmp_path, providers={"scripted": provider}, surfaces={"chat": surface}
        )
        scheduler = Scheduler(service, idle_s=0.05)
        await scheduler.start()  # makes every unfinished job due now, as on any start
        try:
            done = [await service.wait_until_done(job_id) for job_id in rows]
        finally:
            await scheduler.stop()
        assert [job.state for job in done] == [JobState.DELIVERED] * 3
        assert all(len(surface.of(job_id, "video")) == 1 for job_id in rows)
        assert {row["status"] for row in await store.ledger(rows)} == {"settled"}
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("platform", "card", "result", "typed_card", "typed_result"),
    [
        (
            "discord",
            {"channel": "11", "status": "12", "thread": "12", "upload_limit": "26214400"},
            {"channel": "12", "message": "13", "link_expires_at": "1790604800"},
            DiscordRefs(
                channel_id="11", status_message_id="12", thread_id="12", upload_limit=25 << 20
            ),
            DiscordRefs(channel_id="12", message_id="13", link_expires_at=1_790_604_800),
        ),
        (
            "discord",
            {"channel": "11", "status": "12"},
            {"dm_channel": "31", "message": "32", "path": "/data/results/j.mp4"},
            DiscordRefs(channel_id="11", status_message_id="12"),
            DiscordRefs(dm_channel_id="31", message_id="32", path="/data/results/j.mp4"),
        ),
        (
            "slack",
            {"status_ts": "1.1", "thread_ts": "1.1"},
            {"file_id": "F1", "result_ts": "1.3", "thread_ts": "1.1"},
            SlackRefs(status_ts="1.1", thread_ts="1.1"),
            SlackRefs(file_id="F1", result_ts="1.3", thread_ts="1.1"),
        ),
        (
            "console",
            {"card": "j"},
            {"path": "/out/harbour-j.mp4"},
            ConsoleRefs(card="j"),
            ConsoleRefs(path="/out/harbour-j.mp4"),
        ),
    ],
)
async def test_refs_stored_by_earlier_versions_load_typed_and_are_stored_the_same_way(
    store: SqliteStore,
    tmp_path: Path,
    platform: str,
    card: dict[str, str],
    result: dict[str, str],
    typed_card: Refs,
    typed_result: Refs,
) -> None:
    """Rows written while refs were plain dicts load as the platform's structure, and what
    this version writes is byte for byte the old shape."""
    await store.create_job(job("old", platform=platform), [], LIMITS, period_at(NOW))
    with sqlite3.connect(tmp_path / "veo.db") as db:  # as an earlier version wrote them
        origin_json = json.loads(db.execute("SELECT origin_json FROM jobs").fetchone()[0])
        db.execute(
            "UPDATE jobs SET origin_json = ?, delivery_refs_json = ?",
            (json.dumps(origin_json | {"refs": card}), json.dumps(result)),
        )
    loaded = await store.get_job("old")
    assert loaded is not None
    assert loaded.origin.refs == typed_card and loaded.delivery_refs == typed_result

    await store.create_job(job("new", platform=platform), [], LIMITS, period_at(NOW))
    fresh = await store.get_job("new")
    assert fresh is not None
    await store.update(
        "new",
        version=fresh.version,
        now=NOW,
        origin=fresh.origin.model_copy(update={"refs": typed_card}),
        delivery_refs=typed_result,
    )
    with sqlite3.connect(tmp_path / "veo.db") as db:
        origin_text, refs_text = db.execute(
            "SELECT origin_json, delivery_refs_json FROM jobs WHERE id = 'new'"
        ).fetchone()
    assert json.loads(origin_text)["refs"] == card and json.loads(refs_text) == result
