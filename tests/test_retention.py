"""A finished job's files are kept for the retention period (VEO_RETENTION_DAYS, 7 by default)
and then removed by the running bot's periodic sweep: the input images in the database, the
local renderer's folder, a result kept on disk. The job's record stays. Driven by the service's
injectable clock, through the fake Discord (an image attached from its CDN) and the core."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from adapters.providers.local import LocalProvider
from bot.app import open_runtime
from bot.models import GenerationRequest, Job, JobState
from bot.scheduler import Scheduler
from bot.settings import Settings
from storage.sqlite import SqliteStore
from tests.discord.support import discord_endpoints  # noqa: F401 - its autouse fixture
from tests.discord.support import running_bot as discord_bot
from tests.support import (
    RecordingSurface,
    ScriptedProvider,
    SkippingClock,
    eventually,
    make_service,
    origin,
    png_bytes,
    run_cli,
)

DAY_S = 86400.0
RETENTION_S = 7 * DAY_S  # the default


async def test_images_and_renders_are_removed_once_the_retention_period_is_over(
    store: SqliteStore, tmp_path: Path
) -> None:
    clock = SkippingClock()
    local = LocalProvider(tmp_path / "renders", poll_interval_s=0.02)
    photo = png_bytes(320, 180)
    try:
        async with discord_bot(store, tmp_path, providers={"local": local}, clock=clock) as bot:
            fake = bot.fake
            picture = fake.upload(photo, "cat.png", "image/png")
            options = {
                "prompt": "the cat yawns",
                "image": picture,
                "model": "local/local-draft",
                "duration": 2,
            }
            await bot.reply(await fake.slash("veo", options))
            done = await bot.finished(await bot.next_job())
            assert done.state is JobState.DELIVERED, done.error_message
            assert done.provider_job_id is not None
            render = tmp_path / "renders" / done.provider_job_id
            assert (render / "first.img").read_bytes() == photo
            assert list((await store.load_media(done.id)).values()) == [photo]

            # An hour before the period ends, everything is still there.
            clock.skip(RETENTION_S - 3600)
            assert await bot.service.purge_expired() == 0
            assert render.is_dir() and await store.load_media(done.id)

            # Past it, the running bot's sweep removes the image and the render.
            clock.skip(3600 + 1)
            bot.scheduler.wake()

            async def swept() -> bool | None:
                return True if bot.service.metrics.value("veo_purged_jobs_total") == 1 else None

            await eventually(swept)
            assert await store.load_media(done.id) == {}
            assert not render.exists()
            kept = await store.get_job(done.id)
            assert kept is not None and kept.state is JobState.DELIVERED  # the record stays
            [row] = await store.ledger([done.id])
            assert row["status"] == "settled"

            video = await bot.video_message(done)
            answer = await bot.reply(await fake.click(video, "Re-roll"))
            assert "The images of that video were deleted after 7 days" in answer
            assert len(await bot.jobs()) == 1  # nothing new was started or charged
    finally:
        await local.aclose()


@contextlib.asynccontextmanager
async def running(scheduler: Scheduler) -> AsyncIterator[Scheduler]:
    await scheduler.start()
    try:
        yield scheduler
    finally:
        await scheduler.stop()


async def test_a_video_kept_on_disk_and_crash_leftovers_go_after_the_retention_period(
    store: SqliteStore, tmp_path: Path
) -> None:
    clock = SkippingClock()
    provider = ScriptedProvider()
    # The thread refuses the video and so does the DM: it is only on disk.
    surface = RecordingSurface(refuse_deliveries=True, refuse_private=True)
    service = make_service(
        store, tmp_path, providers={"scripted": provider}, surfaces={"chat": surface}, clock=clock
    )
    async with running(Scheduler(service, idle_s=0.02)) as scheduler:
        job = await service.submit(GenerationRequest(prompt="a kite", duration_s=4), origin())
        done: Job = await asyncio.wait_for(service.wait_until_done(job.id), 10)
        assert (done.state, done.error_code) == (JobState.FAILED, "undelivered")
        assert done.delivery_refs is not None and done.delivery_refs.path is not None
        kept = Path(done.delivery_refs.path)
        assert await asyncio.to_thread(kept.exists)
        # What a delivery run killed mid-download (SIGKILL) leaves behind.
        leftover = tmp_path / "downloads" / f"{job.id}-killed"
        await asyncio.to_thread(leftover.mkdir)
        await asyncio.to_thread((leftover / "video.mp4.part").write_bytes, b"\0" * 100)
        # And the bot's copy of a video, had a crash come before its job ended.
        held = tmp_path / "downloads" / f"{job.id}.mp4"
        await asyncio.to_thread(held.write_bytes, provider.video)

        clock.skip(RETENTION_S + 1)
        scheduler.wake()

        async def swept() -> bool | None:
            return True if service.metrics.value("veo_purged_jobs_total") == 1 else None

        await eventually(swept)
        assert not await asyncio.to_thread(kept.exists)
        assert not await asyncio.to_thread(leftover.exists)
        assert not await asyncio.to_thread(held.exists)


def test_a_retention_period_that_is_not_positive_is_a_configuration_error(
    tmp_path: Path,
) -> None:
    result = run_cli(tmp_path, "jobs", VEO_RETENTION_DAYS="0")
    assert result.returncode == 4
    assert "VEO_RETENTION_DAYS" in result.stderr


async def test_the_retention_period_comes_from_veo_retention_days(settings: Settings) -> None:
    shorter = settings.model_copy(update={"veo_retention_days": 1.5})
    runtime = await open_runtime(shorter, {})
    try:
        assert runtime.service.config.retention_s == 1.5 * DAY_S
    finally:
        await runtime.aclose()
