"""Scale with webhooks on: jobs at a provider that calls back when each ends (the Replicate
fake, its status reads limited as the budget says), polled only as a safety net
(VEO_WEBHOOK_POLL_INTERVAL_S, production's 180 s) and at once when a callback comes.

The bot (core, store, scheduler with its defaults, the Replicate adapter, its own web server
for the callbacks, a chat surface that costs nothing) runs in a fresh process, the fake in
another. The jobs run 10 to 60 s at the fake, spread evenly; the window lasts until 99 % of
the videos are delivered. Printed: status reads per delivered job (target under 2), the delay from
"done at the provider" to delivered (p50, p99), the bot's CPU share and RSS over the window,
and the 429s."""

from __future__ import annotations

import asyncio
import functools
import json
import random
import socket
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from aiohttp import web

from adapters.providers.replicate import ReplicateProvider
from bench._harness import (
    NullSurface,
    Side,
    count_in,
    cpu_s,
    in_child,
    make_service,
    percentile,
    recv,
    rss_mb,
    wait_until,
)
from bot.budget import ProviderLimits, per_minute
from bot.clock import SystemClock
from bot.links import MediaLinks
from bot.models import GenerationRequest, Job, JobState, Origin
from bot.scheduler import Scheduler
from bot.web import build_web_app
from storage.sqlite import SqliteStore
from tests.fakes.replicate import API_TOKEN, ReplicateFake

MODEL = "google/veo-3.1-fast"
JOBS = 2_000
STATUS_PER_MIN = 3_000  # Replicate's published limit for reads
RUN_S = (10.0, 60.0)
SAFETY_NET_S = 180.0
POLL_INTERVAL_S = 10.0
TERMINAL = (JobState.DELIVERED, JobState.FAILED, JobState.TIMED_OUT, JobState.CANCELLED)


class SpreadReplicate(ReplicateFake):
    """The Replicate fake whose predictions run for times spread evenly over `RUN_S`; it counts
    status reads and says when each prediction ended, by the wall clock."""

    def __init__(self, **options: Any) -> None:
        super().__init__(create_per_min=10**6, credit=10**9, **options)
        self.status_reads = 0
        self._rng = random.Random(17)

    async def _create(self, request: web.Request) -> web.Response:
        response = await super()._create(request)
        prediction = self.predictions[json.loads(response.text or "{}")["id"]]
        prediction.run_s = self._rng.uniform(*RUN_S)
        return response

    async def _get(self, request: web.Request) -> web.Response:
        self.status_reads += 1
        return await super()._get(request)

    def ended_at(self) -> dict[str, float]:
        return {p.id: p.created_wall + p.run_s for p in self.predictions.values()}


async def _fake_side(conn: Connection) -> None:
    fake = SpreadReplicate(other_per_min=STATUS_PER_MIN)
    limit = fake.limit_rate("/v1/predictions/*", STATUS_PER_MIN, 60.0, method="GET")
    await fake.start()

    async def forget() -> None:
        while True:  # the fake records every request; nobody reads them here
            await asyncio.sleep(1)
            fake.requests.clear()

    forgetting = asyncio.create_task(forget())
    conn.send(fake.base_url)
    while (message := await recv(conn)) != "stop":
        if message == "count":
            conn.send((fake.status_reads, limit.refused, limit.most_in_a_window()))
        else:  # "ended"
            conn.send(fake.ended_at())
    forgetting.cancel()
    await fake.close()


class NoticingSurface(NullSurface):
    """The null surface, noting when each job's video was handed to it."""

    def __init__(self) -> None:
        self.delivered_at: dict[str, float] = {}

    async def deliver(self, job: Job, video: Path, *, notice: str | None) -> Any:
        self.delivered_at.setdefault(job.id, time.time())
        return await super().deliver(job, video, notice=notice)


async def _bot_main(conn: Connection, jobs: int) -> None:
    side = Side(_fake_side)
    try:
        url = await side.recv()
        with tempfile.TemporaryDirectory() as folder:
            conn.send(await _measure(side, url, Path(folder), jobs))
    except Exception as exc:
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        side.send("stop")
        side.close()


async def _measure(side: Side, url: str, folder: Path, jobs: int) -> dict[str, Any]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    public_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    store = await SqliteStore.open(folder / "webhooks.db")
    links = MediaLinks(public_url, "hook-secret", SystemClock())
    provider = ReplicateProvider(API_TOKEN, links, base_url=url)
    surface = NoticingSurface()
    service = make_service(
        store,
        folder / "downloads",
        providers={"replicate": provider},
        surfaces={surface.platform: surface},
        default_provider="replicate",
        poll_interval_s=POLL_INTERVAL_S,
        public_url=public_url,
        webhook_secret="hook-secret",
        budgets={"replicate": ProviderLimits(status=per_minute(STATUS_PER_MIN))},
        webhook_poll_interval_s=SAFETY_NET_S,
    )
    runner = web.AppRunner(build_web_app(store, links, service=service))
    await runner.setup()
    await web.SockSite(runner, listener).start()
    scheduler = Scheduler(service)
    try:
        await scheduler.start()
        side.send("count")
        before = await side.recv()
        cpu_before, wall_before = cpu_s(), time.perf_counter()
        request = GenerationRequest(prompt="a lighthouse at dusk", model=MODEL)
        for first in range(0, jobs, 500):
            origins = [
                Origin(platform=surface.platform, workspace_id="w", channel_id="c", user_id=u)
                for u in (f"user-{i}" for i in range(first, min(jobs, first + 500)))
            ]
            await asyncio.gather(*(service.submit(request, o) for o in origins))
        peak_rss = rss_mb()

        async def nearly_all_finished() -> bool:
            nonlocal peak_rss
            peak_rss = max(peak_rss, rss_mb())
            return await count_in(store, TERMINAL) >= jobs * 0.99

        # 99 %: a delivery whose run is taken over is taken up again only when its lease
        # (5 minutes) runs out; those left are counted, not waited for.
        await wait_until(nearly_all_finished, timeout_s=RUN_S[1] + SAFETY_NET_S * 2, step_s=0.5)
        cpu_used, wall = cpu_s() - cpu_before, time.perf_counter() - wall_before
        side.send("count")
        after = await side.recv()
        side.send("ended")
        ended = await side.recv()
        delays = []
        for job in await store.recent_jobs(jobs):
            if job.id in surface.delivered_at and job.provider_job_id in ended:
                delays.append(surface.delivered_at[job.id] - ended[job.provider_job_id])
        return {
            "cpu_share": cpu_used / wall,
            "wall_s": wall,
            "reads": after[0] - before[0],
            "refused": after[1],
            "most_in_a_minute": after[2],
            "delivered": len(surface.delivered_at),
            "unfinished": jobs - await count_in(store, TERMINAL),
            "delays": delays,
            "rss_mb": rss_mb(),
            "peak_rss_mb": peak_rss,
        }
    finally:
        await scheduler.stop()
        await runner.cleanup()
        await provider.aclose()
        await store.close()


def run(jobs: int = JOBS) -> list[tuple[str, str, str]]:
    name = f"webhooks: {jobs:,} jobs calling back, safety-net polls every {SAFETY_NET_S:g} s"
    result = in_child(functools.partial(_bot_main, jobs=jobs), timeout_s=900)
    if "error" in result:
        return [(name, f"did not run: {result['error']}"[:120], "-")]
    delivered = result["delivered"]
    delays = result["delays"]
    return [
        (
            f"{name}: polls per job",
            f"{result['reads'] / max(1, delivered):.2f} status reads per delivered video "
            f"({result['reads']:,} for {delivered:,}; most in a minute "
            f"{result['most_in_a_minute']} of {STATUS_PER_MIN})",
            "< 2",
        ),
        (
            f"{name}: notice delay",
            f"p50 {percentile(delays, 50):.2f} s, p99 {percentile(delays, 99):.2f} s "
            f"from done at the provider to delivered ({len(delays)} videos; "
            f"{result['unfinished']} not delivered when the window closed)",
            "ideal: the callback's own delay",
        ),
        (
            f"{name}: CPU, RSS, 429s",
            f"{result['cpu_share']:.1%} of one core over {result['wall_s']:.0f} s, "
            f"RSS {result['rss_mb']:.0f} MB (peak {result['peak_rss_mb']:.0f} MB), "
            f"429s {result['refused']}",
            "-",
        ),
    ]


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))
