"""Plumbing the benchmarks share: other processes to host the fakes (or the bot) so that their
CPU and memory stay out of the figures, /proc readings, percentiles, and the small pieces of
the core's wiring each benchmark needs."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import random
import resource
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from aiohttp import web

from adapters.providers import default_catalog
from bot.budget import ProviderLimits
from bot.catalog import Catalog, ModelSpec
from bot.clock import SystemClock
from bot.config import ServiceConfig
from bot.jobs import JobService
from bot.links import MediaLinks
from bot.models import Job, JobState, QuotaLimits, ResultLink
from bot.ports import ChatSurface, Store, VideoProvider
from bot.refs import Refs
from tests.fakes.gateway import FakeTask, GatewayFake
from tests.support import SCRIPTED_SPEC

# Nobody in a benchmark runs into a quota.
NO_LIMITS = QuotaLimits(user_daily_s=1e12, user_concurrent=1_000_000, workspace_monthly_s=0)


def quiet_logs() -> None:
    """Warnings of the code under test would tear the table apart; errors still show."""
    logging.basicConfig(
        level=int(os.environ.get("BENCH_LOG_LEVEL", logging.ERROR)),
        format="bench: %(name)s: %(message)s",
    )


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p50 of [1, 2, 3, 4] is 2)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, round(pct / 100 * len(ordered) + 0.4999))
    return ordered[min(rank, len(ordered)) - 1]


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def rss_mb() -> float:
    """Resident set size of this process now."""
    return _status_kb("VmRSS") / 1024


def cpu_s() -> float:
    """CPU seconds (user + system) used by this process so far, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class RssSampler:
    """Samples VmRSS from a thread every `step_s` (VmHWM cannot be reset from Python)."""

    def __init__(self, step_s: float = 0.002) -> None:
        self.step_s = step_s
        self.peak_mb = 0.0
        self._stop = False
        self._thread: Any = None

    def __enter__(self) -> RssSampler:
        self.peak_mb = rss_mb()

        def sample() -> None:
            with open("/proc/self/statm", "rb", buffering=0) as statm:
                page_mb = os.sysconf("SC_PAGE_SIZE") / 1024**2
                while not self._stop:
                    statm.seek(0)
                    resident = int(statm.read().split()[1]) * page_mb
                    self.peak_mb = max(self.peak_mb, resident)
                    time.sleep(self.step_s)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self._thread.join()


# --- other processes ---------------------------------------------------------------------

SideMain = Callable[[Connection], Coroutine[Any, Any, None]]


def _run_side(conn: Connection, main: SideMain) -> None:
    quiet_logs()
    try:
        asyncio.run(main(conn))
    finally:
        conn.close()


class Side:
    """Another Python process (spawned, so it starts clean) running `main(conn)` in its own
    event loop; the two talk over a pipe of picklable messages."""

    def __init__(self, main: SideMain) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, theirs = context.Pipe()
        # Not a daemon: a side may start sides of its own.
        self.process = context.Process(target=_run_side, args=(theirs, main))
        self.process.start()
        theirs.close()

    def send(self, message: Any) -> None:
        self._conn.send(message)

    async def recv(self, timeout_s: float = 120.0) -> Any:
        def wait() -> Any:
            if not self._conn.poll(timeout_s):
                raise TimeoutError(f"no answer from the other process in {timeout_s} s")
            return self._conn.recv()

        return await asyncio.to_thread(wait)

    def close(self) -> None:
        self._conn.close()
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)


async def recv(conn: Connection) -> Any:
    """The other end of `Side.recv`, for code running inside a side."""
    return await asyncio.to_thread(conn.recv)


def in_child(main: SideMain, timeout_s: float = 300.0) -> Any:
    """Run `main(conn)` in a fresh process and return the one message it sends back; for
    figures (CPU, peak RSS) that must not include what this process did before."""

    async def wait() -> Any:
        side = Side(main)
        try:
            return await side.recv(timeout_s)
        finally:
            side.close()

    return asyncio.run(wait())


# --- the core, wired for a benchmark ---------------------------------------------------------


def make_service(
    store: Store,
    work_dir: Path,
    *,
    providers: dict[str, VideoProvider],
    surfaces: dict[str, ChatSurface],
    default_provider: str,
    poll_interval_s: float,
    public_url: str | None = None,
    webhook_secret: str | None = None,
    budgets: Mapping[str, ProviderLimits] | None = None,
    extra_specs: Callable[[Catalog], Sequence[ModelSpec]] | None = None,
    webhook_poll_interval_s: float | None = None,
) -> JobService:
    """The job service with production defaults, except for quotas and the poll interval;
    `extra_specs` adds models (a provider under a second name) to the real catalog."""
    clock = SystemClock()
    catalog = Catalog((*default_catalog().specs(), SCRIPTED_SPEC))
    if extra_specs is not None:
        catalog = Catalog((*catalog.specs(), *extra_specs(catalog)))
    return JobService(
        store=store,
        catalog=catalog,
        providers=providers,
        surfaces=surfaces,
        config=ServiceConfig(
            default_provider=default_provider,
            limits=NO_LIMITS,
            work_dir=work_dir,
            poll_interval_s=poll_interval_s,
            budgets=budgets or {},
            webhook_poll_interval_s=webhook_poll_interval_s,
        ),
        clock=clock,
        rng=random.Random(7),
        links=MediaLinks(public_url, webhook_secret, clock) if webhook_secret else None,
    )


async def wait_until(
    check: Callable[[], Awaitable[bool]], *, timeout_s: float, step_s: float = 0.05
) -> None:
    async with asyncio.timeout(timeout_s):
        while not await check():  # noqa: ASYNC110 - conditions in the store announce nothing
            await asyncio.sleep(step_s)


async def count_in(store: Any, states: Sequence[JobState]) -> int:
    by_state: dict[JobState, int] = await store.count_by_state()
    return sum(by_state.get(state, 0) for state in states)


def files_mb(folder: Path, pattern: str) -> float:
    return sum(p.stat().st_size for p in folder.glob(pattern) if p.is_file()) / 1e6


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.0095 else f"{seconds * 1000:.1f} ms"


class HeldGateway(GatewayFake):
    """The gateway fake whose tasks run until `finish(task_id)`, whatever the clock says;
    it notes when it first answered "done" for a task, and counts status reads."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("job_duration_s", 1e9)
        super().__init__(**options)
        self.done_seen: dict[str, float] = {}
        self.status_reads = 0

    def _state(self, task: FakeTask) -> tuple[str, int]:
        return ("running", 50) if task.run_s else super()._state(task)

    async def _generation(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        self.status_reads += 1
        task = self.tasks.get(request.match_info["id"])
        response = await super()._generation(request)
        if task is not None and self._state(task)[0] == "done":
            self.done_seen.setdefault(task.id, started)
        return response

    def finish(self, task_id: str) -> None:
        self.tasks[task_id].run_s = 0.0


class NullSurface:
    """A chat platform that answers at once and keeps nothing: the core's cost alone."""

    platform = "bench"
    progress_interval_s = 3.0

    def upload_limit_bytes(self, job: Job) -> int | None:
        return None

    async def post_status(self, job: Job) -> Refs:
        return Refs(status=job.id)

    async def find_status(self, job: Job) -> Refs | None:
        return None

    async def update_progress(self, job: Job) -> None:
        return None

    async def find_delivery(self, job: Job) -> Refs | None:
        return None

    async def deliver(self, job: Job, video: Path, *, notice: str | None) -> Refs:
        return Refs(message=job.id)

    async def deliver_link(self, job: Job, link: ResultLink, *, notice: str | None) -> Refs:
        return Refs(message=job.id)

    async def deliver_privately(
        self, job: Job, video: Path, *, link: ResultLink | None, notice: str | None
    ) -> Refs:
        return Refs(message=job.id)

    async def report_failure(self, job: Job, message: str) -> None:
        return None
