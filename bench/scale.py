"""Scale under request budgets: jobs in flight across two providers whose fakes enforce a rate
limit on status reads (600 and 60 a minute, 429 with Retry-After past it), with the bot's
status budgets set to those limits.

Two runs, each with the bot (core, store, scheduler with its defaults, two gateway provider
adapters, a chat surface that costs nothing) in a fresh process and both fakes in another:

- load: 10,000 jobs in flight; over the window, how much of one core the bot uses, its RSS,
  how many status reads each fake got against its limit, and how many 429s it answered.
- notice: few enough jobs that a full round of polls fits in the window; some are finished at
  its start, and the delay until the bot delivered each is compared with the ideal for that
  budget: jobs polled in turn at the budget's pace find a finished one after half a round at
  the median, a whole round at worst.

The jobs are made through `JobService.submit` and submitted to the fakes by the scheduler
(submits are not budgeted here); the window starts once all of them are at their provider."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import tempfile
import time
from dataclasses import replace
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
    percentile,
    recv,
    rss_mb,
    wait_until,
)
from bot.budget import Limit, ProviderLimits, per_minute
from bot.clock import SystemClock
from bot.links import MediaLinks
from bot.models import GenerationRequest, Job, JobState, Origin
from bot.scheduler import Scheduler
from storage.sqlite import SqliteStore
from tests.fakes.gateway import API_KEY

MODEL = "veo-3.1-fast-generate-preview"
STATUS_PATH = "/v1/video/generations/*"
# provider name -> status reads the fake allows a minute
LIMITS = {"gateway": 600, "gateway_b": 60}
LOAD_JOBS = {"gateway": 9_000, "gateway_b": 1_000}
NOTICE_JOBS = {"gateway": 400, "gateway_b": 40}  # a round of polls: 41-42 s on each
NOTICE_FINISHED = {"gateway": 40, "gateway_b": 10}
WINDOW_S = float(os.environ.get("BENCH_SCALE_WINDOW_S", "60"))
NOTICE_WINDOW_S = 100.0
POLL_INTERVAL_S = 10.0
AT_PROVIDER = (JobState.SUBMITTED, JobState.RUNNING)
DONE = (JobState.SUCCEEDED, JobState.DELIVERING, JobState.DELIVERED)


async def _fakes_side(conn: Connection) -> None:
    fakes = {name: HeldGateway(credits=10**9) for name in LIMITS}
    limits = {
        name: fake.limit_rate(STATUS_PATH, count, 60.0, method="GET")
        for (name, count), fake in zip(LIMITS.items(), fakes.values(), strict=True)
    }
    for fake in fakes.values():
        await fake.start()

    async def forget() -> None:
        while True:  # the fakes record every request; nobody reads them here
            await asyncio.sleep(1)
            for fake in fakes.values():
                fake.requests.clear()

    forgetting = asyncio.create_task(forget())
    conn.send({name: fake.base_url for name, fake in fakes.items()})
    while (message := await recv(conn)) != "stop":
        if message == "count":
            conn.send(
                {
                    name: (fakes[name].status_reads, limit.refused, limit.most_in_a_window())
                    for name, limit in limits.items()
                }
            )
        else:  # ("finish", {provider: [task ids]}): finish them now, say when
            finished = {}
            for name, task_ids in message[1].items():
                for task_id in task_ids:
                    fakes[name].finish(task_id)
                    finished[task_id] = time.time()
            conn.send(finished)
    forgetting.cancel()
    for fake in fakes.values():
        await fake.close()


class NoticingSurface(NullSurface):
    """The null surface, noting when each job's video was handed to it."""

    def __init__(self) -> None:
        self.delivered_at: dict[str, float] = {}

    async def deliver(self, job: Job, video: Path, *, notice: str | None) -> Any:
        self.delivered_at.setdefault(job.id, time.time())
        return await super().deliver(job, video, notice=notice)


async def _bot_main(
    conn: Connection, jobs: dict[str, int], window_s: float, finished: dict[str, int]
) -> None:
    side = Side(_fakes_side)
    try:
        urls = await side.recv()
        with tempfile.TemporaryDirectory() as folder:
            conn.send(await _measure(side, urls, Path(folder), jobs, window_s, finished))
    except Exception as exc:
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        side.send("stop")
        side.close()


def _bot(jobs: dict[str, int], window_s: float, finished: dict[str, int]) -> Any:
    """The bot's process for one run (a partial, so that it can be sent to a new process)."""
    return functools.partial(_bot_main, jobs=jobs, window_s=window_s, finished=finished)


async def _measure(
    side: Side,
    urls: dict[str, str],
    folder: Path,
    jobs: dict[str, int],
    window_s: float,
    finished: dict[str, int],
) -> dict[str, Any]:
    db = folder / "scale.db"
    store = await SqliteStore.open(db)
    links = MediaLinks(None, "secret", SystemClock())
    providers = {name: GatewayProvider(url, API_KEY, links) for name, url in urls.items()}
    surface = NoticingSurface()
    service = make_service(
        store,
        folder / "downloads",
        providers=dict(providers),
        surfaces={surface.platform: surface},
        default_provider="gateway",
        poll_interval_s=POLL_INTERVAL_S,
        budgets={name: ProviderLimits(status=per_minute(n)) for name, n in LIMITS.items()},
        extra_specs=lambda catalog: [
            replace(catalog.get("gateway", MODEL), provider=name)
            for name in LIMITS
            if name != "gateway"
        ],
    )
    scheduler = Scheduler(service)
    try:
        await scheduler.start()
        start = time.perf_counter()
        made: dict[str, list[str]] = {name: [] for name in jobs}
        for name, count in jobs.items():
            request = GenerationRequest(prompt="a lighthouse at dusk", model=MODEL, provider=name)
            for first in range(0, count, 500):
                origins = [
                    Origin(platform=surface.platform, workspace_id="w", channel_id="c", user_id=u)
                    for u in (f"{name}-{i}" for i in range(first, min(count, first + 500)))
                ]
                made[name] += [
                    j.id
                    for j in await asyncio.gather(*(service.submit(request, o) for o in origins))
                ]
        total = sum(jobs.values())

        async def all_at_provider() -> bool:
            if failed := await count_in(store, (JobState.FAILED,)):
                raise RuntimeError(f"{failed} jobs failed during set-up")
            return await count_in(store, AT_PROVIDER) >= total

        await wait_until(all_at_provider, timeout_s=400, step_s=0.5)
        setup_s = time.perf_counter() - start
        side.send("count")
        before = await side.recv()
        when_finished: dict[str, float] = {}
        # The finished jobs spread over each provider's round of polls, not bunched in it.
        picked = {n: made[n][:: max(1, len(made[n]) // k)][:k] for n, k in finished.items()}
        if finished:
            # Past the first polls, which all come one interval after the submits: the polls
            # settle into their round at the budget's pace first.
            await asyncio.sleep(max(_round_s(n, jobs[n]) for n in jobs) * 1.5)
            chosen: dict[str, list[str]] = {}
            by_task: dict[str, str] = {}
            for name, job_ids in picked.items():
                for job in [await store.get_job(job_id) for job_id in job_ids]:
                    if job is not None and job.provider_job_id is not None:
                        chosen.setdefault(name, []).append(job.provider_job_id)
                        by_task[job.provider_job_id] = job.id
            side.send(("finish", chosen))
            when_finished = {by_task[t]: at for t, at in (await side.recv()).items()}
        cpu_before, wall_before = cpu_s(), time.perf_counter()
        peak_rss = rss_mb()
        while time.perf_counter() - wall_before < window_s:
            await asyncio.sleep(0.5)
            peak_rss = max(peak_rss, rss_mb())
        cpu_used, wall = cpu_s() - cpu_before, time.perf_counter() - wall_before
        side.send("count")
        after = await side.recv()
        delays: dict[str, list[float]] = {name: [] for name in finished}
        unnoticed = 0
        for name, job_ids in picked.items():
            for job_id in job_ids:
                if job_id in surface.delivered_at:
                    delays[name].append(surface.delivered_at[job_id] - when_finished[job_id])
                else:
                    unnoticed += 1
        return {
            "cpu_share": cpu_used / wall,
            "wall_s": wall,
            "reads": {n: after[n][0] - before[n][0] for n in LIMITS},
            "refused": {n: after[n][1] for n in LIMITS},
            "most_in_a_minute": {n: after[n][2] for n in LIMITS},
            "rss_mb": rss_mb(),
            "peak_rss_mb": peak_rss,
            "db_mb": files_mb(folder, "scale.db*"),
            "setup_s": setup_s,
            "delays": delays,
            "unnoticed": unnoticed,
            "deferred": sum(
                service.metrics.value("veo_budget_deferred_total", provider=n, kind="status")
                for n in LIMITS
            ),
        }
    finally:
        await scheduler.stop()
        for provider in providers.values():
            await provider.aclose()
        await store.close()


def _round_s(name: str, jobs: int) -> float:
    """How long polling `jobs` in turn takes at the budget's pace (at least the interval)."""
    return max(jobs * Limit(LIMITS[name], 60.0).spacing_s, POLL_INTERVAL_S)


def _ideal(name: str, jobs: int) -> tuple[float, float]:
    """p50 and p99 of the delay when `jobs` are polled in turn at the budget's pace."""
    return _round_s(name, jobs) / 2, _round_s(name, jobs) * 0.99


def run(
    load_jobs: dict[str, int] = LOAD_JOBS,
    notice_jobs: dict[str, int] = NOTICE_JOBS,
    window_s: float = WINDOW_S,
    notice_window_s: float = NOTICE_WINDOW_S,
) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    total = sum(load_jobs.values())
    name = f"scale: {total:,} in flight, status budgets 600/min and 60/min"
    load = in_child(_bot(load_jobs, window_s, {}), timeout_s=900)
    if "error" in load:
        rows.append((name, f"did not run: {load['error']}"[:120], "-"))
    else:
        reads = ", ".join(
            f"{n}: {load['reads'][n]:,} reads (most in a minute {load['most_in_a_minute'][n]}"
            f" of {LIMITS[n]})"
            for n in LIMITS
        )
        rows += [
            (
                f"{name}: CPU",
                f"{load['cpu_share']:.1%} of one core over {load['wall_s']:.0f} s",
                "< 10 % of one core",
            ),
            (
                f"{name}: RSS",
                f"{load['rss_mb']:.0f} MB (peak {load['peak_rss_mb']:.0f} MB)",
                "< 300 MB",
            ),
            (f"{name}: reads", reads, "within each limit"),
            (
                f"{name}: 429s",
                f"{sum(load['refused'].values())} "
                f"({', '.join(f'{n}: {v}' for n, v in load['refused'].items())})",
                "0",
            ),
            (
                f"{name}: database",
                f"{load['db_mb']:.1f} MB with WAL (set-up {load['setup_s']:.0f} s)",
                "-",
            ),
        ]
    notice = in_child(_bot(notice_jobs, notice_window_s, NOTICE_FINISHED), timeout_s=600)
    label = "notice delay, done at the provider to delivered"
    if "error" in notice:
        rows.append((label, f"did not run: {notice['error']}"[:120], "-"))
        return rows
    for provider, delays in notice["delays"].items():
        p50, p99 = _ideal(provider, notice_jobs[provider])
        rows.append(
            (
                f"{label}: {provider} ({notice_jobs[provider]} jobs, {LIMITS[provider]} reads/min)",
                f"p50 {percentile(delays, 50):.1f} s, p99 {percentile(delays, 99):.1f} s "
                f"({len(delays)} videos; 429s {notice['refused'][provider]})",
                f"ideal p50 {p50:.1f} s, p99 {p99:.1f} s",
            )
        )
    if notice["unnoticed"]:
        rows.append((label, f"{notice['unnoticed']} not noticed within the window", "0"))
    return rows


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))
