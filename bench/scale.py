"""Scale: 10,000 jobs in flight, polled every 10 s over HTTP against the gateway fake. How much
of one core the bot's process uses meanwhile, its RSS and the size of its database.

The bot (core, store, scheduler with its defaults, the gateway provider adapter, a chat surface
that costs nothing) runs in a fresh process; the fake gateway in another. The jobs are made
through `JobService.submit` and submitted to the fake by the scheduler; the measurement window
starts once all of them are at the provider."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from adapters.providers.gateway import GatewayProvider
from bench._harness import (
    HeldGateway,
    NullSurface,
    Side,
    count_in,
    cpu_s,
    files_mb,
    in_child,
    make_service,
    recv,
    rss_mb,
    wait_until,
)
from bot.clock import SystemClock
from bot.links import MediaLinks
from bot.models import GenerationRequest, JobState, Origin
from bot.scheduler import Scheduler
from storage.sqlite import SqliteStore
from tests.fakes.gateway import API_KEY

JOBS = 10_000
POLL_INTERVAL_S = 10.0
WINDOW_S = float(os.environ.get("BENCH_SCALE_WINDOW_S", "60"))
AT_PROVIDER = (JobState.SUBMITTED, JobState.RUNNING)


async def _gateway_side(conn: Connection) -> None:
    fake = HeldGateway(credits=10**9)
    await fake.start()

    async def forget() -> None:
        while True:  # the fake records every request; nobody reads them here
            await asyncio.sleep(1)
            fake.requests.clear()

    forgetting = asyncio.create_task(forget())
    conn.send(fake.base_url)
    while (await recv(conn)) != "stop":
        conn.send(fake.status_reads)
    forgetting.cancel()
    await fake.close()


async def _bot(conn: Connection) -> None:
    side = Side(_gateway_side)
    try:
        base_url = await side.recv()
        with tempfile.TemporaryDirectory() as folder:
            conn.send(await _measure(side, base_url, Path(folder)))
    except Exception as exc:
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        side.send("stop")
        side.close()


async def _measure(side: Side, base_url: str, folder: Path) -> dict[str, Any]:
    db = folder / "scale.db"
    store = await SqliteStore.open(db)
    provider = GatewayProvider(base_url, API_KEY, MediaLinks(None, "secret", SystemClock()))
    surface = NullSurface()
    service = make_service(
        store,
        folder / "downloads",
        providers={"gateway": provider},
        surfaces={surface.platform: surface},
        default_provider="gateway",
        poll_interval_s=POLL_INTERVAL_S,
    )
    scheduler = Scheduler(service)
    try:
        await scheduler.start()
        start = time.perf_counter()
        request = GenerationRequest(
            prompt="a lighthouse at dusk", model="veo-3.1-fast-generate-preview"
        )
        origins = [
            Origin(platform=surface.platform, workspace_id="w", channel_id="c", user_id=f"u{i}")
            for i in range(500)
        ]
        for _ in range(JOBS // len(origins)):
            await asyncio.gather(*(service.submit(request, o) for o in origins))
        submitted_s = time.perf_counter() - start

        async def all_at_provider() -> bool:
            if failed := await count_in(store, (JobState.FAILED,)):
                raise RuntimeError(f"{failed} jobs failed during set-up")
            return await count_in(store, AT_PROVIDER) >= JOBS

        await wait_until(all_at_provider, timeout_s=300, step_s=0.5)
        setup_s = time.perf_counter() - start
        side.send("count")
        reads_before = await side.recv()
        cpu_before, wall_before = cpu_s(), time.perf_counter()
        peak_rss = rss_mb()
        while time.perf_counter() - wall_before < WINDOW_S:
            await asyncio.sleep(0.5)
            peak_rss = max(peak_rss, rss_mb())
        cpu_used, wall = cpu_s() - cpu_before, time.perf_counter() - wall_before
        side.send("count")
        polls = await side.recv() - reads_before
        by_state = await store.count_by_state()
        return {
            "cpu_share": cpu_used / wall,
            "wall_s": wall,
            "polls": polls,
            "expected_polls": JOBS * wall / POLL_INTERVAL_S,
            "rss_mb": rss_mb(),
            "peak_rss_mb": peak_rss,
            "db_mb": files_mb(folder, "scale.db*"),
            "submitted_s": submitted_s,
            "setup_s": setup_s,
            "active": sum(by_state.get(s, 0) for s in AT_PROVIDER),
        }
    finally:
        await scheduler.stop()
        await provider.aclose()
        await store.close()


def run() -> list[tuple[str, str, str]]:
    result = in_child(_bot, timeout_s=600)
    name = f"scale: {JOBS:,} in flight, {POLL_INTERVAL_S:g} s polls"
    if "error" in result:
        return [(name, f"did not run: {result['error']}"[:120], "-")]
    keeping_up = result["polls"] / result["expected_polls"]
    return [
        (
            f"{name}: CPU",
            f"{result['cpu_share']:.0%} of one core over {result['wall_s']:.0f} s "
            f"({result['polls']:,} polls, {keeping_up:.0%} of schedule)",
            "< 10 % of one core",
        ),
        (
            f"{name}: RSS",
            f"{result['rss_mb']:.0f} MB (peak {result['peak_rss_mb']:.0f} MB)",
            "< 300 MB",
        ),
        (
            f"{name}: database",
            f"{result['db_mb']:.1f} MB with WAL ({result['active']:,} jobs active; "
            f"set-up {result['setup_s']:.0f} s)",
            "-",
        ),
    ]


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))
