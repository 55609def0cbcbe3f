"""Quota reservations per second on SQLite (WAL): 50 users at once, then one user contending
with itself, checking that nobody is ever charged past their limit."""

from __future__ import annotations

import asyncio
import io
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from adapters.console import ConsoleSurface
from adapters.providers import default_catalog
from adapters.providers.local import LocalProvider
from bot.clock import SystemClock
from bot.config import ServiceConfig
from bot.errors import QuotaExceeded
from bot.jobs import JobService
from bot.models import GenerationRequest, Origin, QuotaLimits
from storage.sqlite import SqliteStore

REQUEST = GenerationRequest(prompt="bench", model="local-draft", duration_s=8)
LIMITS = QuotaLimits(user_daily_s=40, user_concurrent=1000, workspace_monthly_s=0)


async def _reserve(users: int, attempts_per_user: int) -> tuple[float, int, int, int]:
    with tempfile.TemporaryDirectory() as folder:
        store = await SqliteStore.open(Path(folder) / "bench.db")
        surface = ConsoleSurface(io.StringIO())
        service = JobService(
            store=store,
            catalog=default_catalog(),
            providers={"local": LocalProvider(Path(folder))},
            surfaces={surface.platform: surface},
            config=ServiceConfig(default_provider="local", limits=LIMITS, work_dir=Path(folder)),
            clock=SystemClock(),
        )
        origins = [
            Origin(platform="console", workspace_id="w", channel_id=folder, user_id=f"u{i}")
            for i in range(users)
        ]

        async def attempt(origin: Origin) -> bool:
            try:
                await service.submit(REQUEST, origin)
            except QuotaExceeded:
                return False
            return True

        start = time.perf_counter()
        results = await asyncio.gather(
            *(attempt(o) for _ in range(attempts_per_user) for o in origins)
        )
        elapsed = time.perf_counter() - start
        charged: dict[str, float] = defaultdict(float)
        for row in await store.ledger():
            charged[row["user_key"]] += row["seconds"]
        await store.close()
    overspent = sum(1 for seconds in charged.values() if seconds > LIMITS.user_daily_s)
    return len(results) / elapsed, sum(results), len(results), overspent


def run() -> list[tuple[str, str, str]]:
    rows = []
    for label, users, attempts in (("50 users", 50, 20), ("1 user, contended", 1, 1000)):
        rate, accepted, total, overspent = asyncio.run(_reserve(users, attempts))
        rows.append(
            (
                f"quota ledger, {label}",
                f"{rate:,.0f} attempts/s ({accepted}/{total} accepted, {overspent} over)",
                "0 over-spend",
            )
        )
    return rows
