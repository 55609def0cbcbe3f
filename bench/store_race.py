"""Two processes on one database, on SQLite and on PostgreSQL: quota reservations per second
(50 users in one workspace, with its monthly cap, so most attempts are refused once the cap is
reached) and due jobs claimed per second, checking that nobody is charged past a limit and
that no job is claimed twice. The processes are `tests/store_worker.py`, as in the store's
conformance suite; PostgreSQL is VEO_TEST_POSTGRES_URL (default the local test database), in
a schema made for the run and dropped after it."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg

from bot.models import GenerationRequest, Job, JobState, Origin, QuotaLimits
from bot.quota import period_at
from storage import open_store
from tests import store_worker

POSTGRES_URL = os.environ.get("VEO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
PROCESSES = 2
ATTEMPTS = 2000  # per process
DUE_JOBS = 3000
CLAIM_BATCH = 10
REPO = Path(__file__).resolve().parents[1]


async def _race(action: str, url: str, *args: str) -> list[dict[str, Any]]:
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.store_worker",
            action,
            url,
            *args,
            cwd=REPO,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        assert worker.stdout is not None
        assert (await worker.stdout.readline()).strip() == b"ready"
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(b"go\n")
        await worker.stdin.drain()
    outputs = [await worker.communicate() for worker in workers]
    return [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]


async def _reservations(url: str) -> str:
    store = await open_store(url)
    await store.close()
    got = await _race("reserve", url, str(ATTEMPTS))
    store = await open_store(url)
    try:
        rows = await store.ledger()
    finally:
        await store.close()
    charged: Counter[str] = Counter()
    for row in rows:
        charged[row["user_key"]] += row["seconds"]
    limits = store_worker.LIMITS
    over = sum(1 for seconds in charged.values() if seconds > limits.user_daily_s)
    over += sum(charged.values()) > limits.workspace_monthly_s
    rate = PROCESSES * ATTEMPTS / max(r["seconds"] for r in got)
    return f"{rate:,.0f} attempts/s ({len(rows)}/{PROCESSES * ATTEMPTS} accepted, {over} over)"


async def _claims(url: str) -> str:
    store = await open_store(url)
    roomy = QuotaLimits(10**9, 10**9, 0)
    now = store_worker.NOW
    try:
        for index in range(DUE_JOBS):
            job = Job(
                id=f"due-{index}",
                origin=Origin(platform="chat", workspace_id="w", channel_id="c", user_id="u"),
                request=GenerationRequest(prompt="bench", duration_s=4),
                provider="scripted",
                model="m",
                state=JobState.PENDING,
                created_at=now,
                updated_at=now,
                deadline_at=now + 600,
                cost_s=4,
                due_at=now,
            )
            await store.create_job(job, [], roomy, period_at(now))
    finally:
        await store.close()
    got = await _race("claim", url, str(CLAIM_BATCH))
    claimed = [job_id for r in got for job_id in r["claimed"]]
    twice = len(claimed) - len(set(claimed))
    rate = len(claimed) / max(r["seconds"] for r in got)
    return f"{rate:,.0f} jobs/s in batches of {CLAIM_BATCH} ({twice} claimed twice)"


async def _on_sqlite() -> tuple[str, str]:
    with tempfile.TemporaryDirectory() as folder:
        reserve = await _reservations(f"sqlite:///{Path(folder) / 'reserve.db'}")
        claims = await _claims(f"sqlite:///{Path(folder) / 'claims.db'}")
    return reserve, claims


async def _on_postgres() -> tuple[str, str]:
    try:
        admin = await asyncpg.connect(POSTGRES_URL, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        skipped = f"skipped: PostgreSQL not reachable ({type(exc).__name__})"
        return skipped, skipped
    schemas = [f"veo_bench_{secrets.token_hex(4)}" for _ in range(2)]
    try:
        for schema in schemas:
            await admin.execute(f"CREATE SCHEMA {schema}")
        glue = "&" if "?" in POSTGRES_URL else "?"
        reserve = await _reservations(f"{POSTGRES_URL}{glue}search_path={schemas[0]}")
        claims = await _claims(f"{POSTGRES_URL}{glue}search_path={schemas[1]}")
    finally:
        for schema in schemas:
            await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close()
    return reserve, claims


def run() -> list[tuple[str, str, str]]:
    rows = []
    for engine, measure in (("SQLite", _on_sqlite), ("PostgreSQL", _on_postgres)):
        reserve, claims = asyncio.run(measure())
        rows.append((f"store, 2 processes, {engine}: reservations", reserve, "0 over-spend"))
        rows.append((f"store, 2 processes, {engine}: claims", claims, "0 claimed twice"))
    return rows


if __name__ == "__main__":
    for name, figure, target in run():
        print(f"{name}: {figure} (target: {target})")
