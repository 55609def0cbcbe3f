"""What is SQLite's own in the SQLite store: WAL, the partial index as SQLite uses it, one
serving process. The contract both stores keep is tests/test_store_conformance.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.errors import ConfigurationError
from storage.sqlite import ACTIVE_AS_INDEXED, SqliteStore, migrations

pytestmark = pytest.mark.sqlite_only


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
            f"SELECT id FROM jobs WHERE {ACTIVE_AS_INDEXED} AND next_poll_at <= ? "
            "AND platform IN (?) ORDER BY next_poll_at LIMIT ?",
            f"SELECT MIN(next_poll_at) FROM jobs WHERE {ACTIVE_AS_INDEXED} AND platform IN (?)",
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
