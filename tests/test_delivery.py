"""A delivery runs once and ends: a download that trickles past its lease is not started a
second time, a delivery that outlives its deadline is abandoned and tried again, and two runs
of one job (two workers, when a lease ran out under a stalled one) never share a file. Driven
through the real job service and scheduler, the real gateway adapter and its HTTP fake."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from adapters.providers.gateway import GatewayProvider
from bot.clock import SystemClock
from bot.jobs import JobService
from bot.links import MediaLinks
from bot.models import GenerationRequest, Job, JobState, ProviderJobState, ProviderStatus
from bot.scheduler import Scheduler
from storage.sqlite import SqliteStore
from tests.fakes import gateway
from tests.support import (
    KeepingSurface,
    RecordingSurface,
    ScriptedProvider,
    SkippingClock,
    eventually,
    make_service,
    origin,
)

CONTENT = "/v1/videos/*/content"  # where the gateway serves a finished video
LEASE_S = 30.0


@dataclass
class Bot:
    fake: gateway.GatewayFake
    provider: GatewayProvider
    surface: KeepingSurface
    clock: SkippingClock
    store: SqliteStore
    downloads: Path

    def service(self, *, delivery_timeout_s: float = 20.0) -> JobService:
        """A job service over the shared store, work folder and chat: one bot process."""
        return make_service(
            self.store,
            self.downloads.parent,
            providers={"gateway": self.provider},
            surfaces={"chat": self.surface},
            default_provider="gateway",
            clock=self.clock,
            job_timeout_s=3600,
            lease_s=LEASE_S,
            delivery_timeout_s=delivery_timeout_s,
        )

    def downloads_of(self, job: Job) -> int:
        task = job.provider_job_id
        return len(self.fake.received("GET", f"/v1/videos/{task}/content"))

    def files_left(self) -> list[Path]:
        return sorted(self.downloads.rglob("*")) if self.downloads.exists() else []

    async def settled(self, job: Job) -> bool:
        [row] = await self.store.ledger([job.id])
        return bool(row["status"] == "settled")


@contextlib.asynccontextmanager
async def gateway_bot(store: SqliteStore, tmp_path: Path) -> AsyncIterator[Bot]:
    fake = gateway.GatewayFake(job_duration_s=0.05)
    await fake.start()
    provider = GatewayProvider(fake.base_url, gateway.API_KEY, MediaLinks(None, "s", SystemClock()))
    try:
        yield Bot(fake, provider, KeepingSurface(), SkippingClock(), store, tmp_path / "downloads")
    finally:
        await provider.aclose()
        await fake.close()


@contextlib.asynccontextmanager
async def scheduled(service: JobService) -> AsyncIterator[Scheduler]:
    scheduler = Scheduler(service, idle_s=0.02)
    await scheduler.start()
    try:
        yield scheduler
    finally:
        await scheduler.stop()


async def submit(service: JobService, prompt: str) -> Job:
    return await service.submit(GenerationRequest(prompt=prompt), origin())


async def done(service: JobService, job: Job) -> Job:
    return await asyncio.wait_for(service.wait_until_done(job.id), 10)


async def test_a_download_trickling_past_its_lease_is_delivered_once_by_one_run(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with gateway_bot(store, tmp_path) as bot:
        held = bot.fake.trickle(CONTENT, head=len(bot.fake.video) // 2)
        service = bot.service()
        async with scheduled(service) as scheduler:
            slow = await submit(service, "a glacier calving")
            await asyncio.wait_for(held.started.wait(), 10)
            # The download outlives the lease: the job is due again while it still runs.
            bot.clock.skip(LEASE_S + 1)
            scheduler.wake()
            # A whole other job, start to finish: the scheduler passes over the due job many
            # times meanwhile.
            other = await done(service, await submit(service, "a kite over dunes"))
            assert other.state is JobState.DELIVERED
            held.release()
            slow_done = await done(service, slow)

        assert slow_done.state is JobState.DELIVERED
        assert bot.downloads_of(slow_done) == 1
        assert bot.surface.videos[slow.id] == [bot.fake.video]  # one post, the whole video
        assert len(bot.surface.of(slow.id, "video")) == 1
        assert await bot.settled(slow_done)
        assert bot.files_left() == []


async def test_a_delivery_past_its_deadline_is_abandoned_and_the_next_try_posts_it(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with gateway_bot(store, tmp_path) as bot:
        # The first download sends half the video, then nothing, for as long as anyone waits
        # (the adapter's own read timeout is 30 s; the job's deadline is far longer).
        stalled = bot.fake.trickle(CONTENT, head=len(bot.fake.video) // 2)
        service = bot.service(delivery_timeout_s=1.0)  # the stall lasts this long
        async with scheduled(service):
            job = await done(service, await submit(service, "rain on a tin roof"))

        assert job.state is JobState.DELIVERED
        assert bot.downloads_of(job) == 2  # the stalled one, abandoned; then one that ended
        assert stalled.started.is_set()
        assert bot.surface.videos[job.id] == [bot.fake.video]
        assert await bot.settled(job)
        assert bot.files_left() == []
        stalled.release()

        async def abandoned_download_closed() -> bool | None:
            return True if stalled.dropped == 1 else None

        await eventually(abandoned_download_closed)  # the bot hung up; it left nothing open


async def test_two_runs_of_one_delivery_never_share_a_file(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with gateway_bot(store, tmp_path) as bot:
        half = len(bot.fake.video) // 2
        first_hold = bot.fake.trickle(CONTENT, head=half)
        first, second = bot.service(), bot.service()  # two processes on one database
        async with scheduled(first):
            job = await submit(first, "a heron takes off")
            await asyncio.wait_for(first_hold.started.wait(), 10)
            # The first process stalls past its lease; the second takes the job up.
            bot.clock.skip(LEASE_S + 1)
            second_hold = bot.fake.trickle(CONTENT, head=half)
            [taken] = await store.claim_due(
                now=bot.clock.now(), lease_s=LEASE_S, limit=10, platforms=["chat"]
            )
            assert (taken.id, taken.state) == (job.id, JobState.DELIVERING)
            second_run = asyncio.create_task(second.advance(taken))
            await asyncio.wait_for(second_hold.started.wait(), 10)

            partial = [path for path in bot.files_left() if path.is_file()]
            assert len(partial) == 2  # each run writes its own file, in its own folder
            assert len({path.parent for path in partial}) == 2
            assert all(job.id in path.parent.name for path in partial)

            second_hold.release()
            await asyncio.wait_for(second_run, 10)
            first_hold.release()
            delivered = await done(first, job)

            async def first_run_over() -> bool | None:
                return True if job.id not in first.in_progress else None

            await eventually(first_run_over)

        assert delivered.state is JobState.DELIVERED
        assert bot.downloads_of(delivered) == 2
        # The run that was overtaken finds the job delivered and does not post it again.
        assert bot.surface.videos[job.id] == [bot.fake.video]
        assert await bot.settled(delivered)
        assert bot.files_left() == []


@dataclass
class SlowToReport(RecordingSurface):
    """A chat platform that takes its time over the failure message (a slow API)."""

    reached: asyncio.Event = field(default_factory=asyncio.Event)
    gate: asyncio.Event = field(default_factory=asyncio.Event)

    async def report_failure(self, job: Job, message: str) -> None:
        self.reached.set()
        await self.gate.wait()
        await super().report_failure(job, message)


async def test_a_job_whose_end_is_still_being_told_is_not_done_for_those_waiting(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider([ProviderStatus(ProviderJobState.FAILED, error_message="No.")])
    surface = SlowToReport()
    service = make_service(
        store, tmp_path, providers={"scripted": provider}, surfaces={"chat": surface}
    )
    async with scheduled(service):
        job = await service.submit(GenerationRequest(prompt="a fox"), origin())
        await asyncio.wait_for(surface.reached.wait(), 10)  # failed in the store, not yet told
        waiting = asyncio.create_task(service.wait_until_done(job.id))
        # Our own read queues behind the waiter's on the same connection: once it is back,
        # the waiter has read the failed job too, and had every chance to return.
        assert (await store.get_job(job.id)).state is JobState.FAILED  # type: ignore[union-attr]
        for _ in range(5):
            await asyncio.sleep(0)
        assert not waiting.done()
        surface.gate.set()
        done = await asyncio.wait_for(waiting, 10)

    assert done.state is JobState.FAILED
    [failure] = surface.of(job.id, "failure")  # told before anyone was answered
    assert "No." in failure.text
