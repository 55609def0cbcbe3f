"""The embedded `local` provider through the whole pipeline: real renders, real MP4s."""

from __future__ import annotations

import asyncio
from pathlib import Path

import av
import pytest

from adapters.providers.local import LocalProvider
from bot.errors import ProviderJobNotFound
from bot.jobs import JobService
from bot.media import load_image
from bot.models import GenerationRequest, Job, JobState, ProviderJobState
from bot.refs import Refs
from bot.scheduler import Scheduler
from storage.sqlite import SqliteStore
from tests.support import RecordingSurface, make_service, origin, png_bytes


class KeepingSurface(RecordingSurface):
    """Keeps a copy of each posted video, as a channel would."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    async def deliver(self, job: Job, video: Path, *, notice: str | None) -> Refs:
        refs = await super().deliver(job, video, notice=notice)
        self.folder.mkdir(exist_ok=True)
        (self.folder / f"{job.id}.mp4").write_bytes(video.read_bytes())  # noqa: ASYNC240
        return refs


def probe(path: Path) -> tuple[int, int, float, int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return stream.width, stream.height, float(container.duration or 0) / av.time_base, frames


def local_service(
    store: SqliteStore, tmp_path: Path, surface: RecordingSurface
) -> tuple[JobService, LocalProvider]:
    provider = LocalProvider(tmp_path / "renders", poll_interval_s=0.02)
    service = make_service(
        store,
        tmp_path,
        providers={"local": provider},
        surfaces={"chat": surface},
        default_provider="local",
    )
    return service, provider


async def test_a_service_stopped_mid_render_is_finished_by_the_next_one_exactly_once(
    tmp_path: Path,
) -> None:
    channel = KeepingSurface(tmp_path / "channel")
    first_store = await SqliteStore.open(tmp_path / "veo.db")
    first, first_provider = local_service(first_store, tmp_path, channel)
    job = await first.submit(
        GenerationRequest(prompt="lanterns over a river", duration_s=6), origin()
    )
    scheduler = Scheduler(first, idle_s=0.05)
    await scheduler.start()
    await asyncio.wait_for(channel.progressed.wait(), 30)
    await scheduler.stop()
    await first_provider.aclose()
    await first_store.close()

    second_store = await SqliteStore.open(tmp_path / "veo.db")
    try:
        interrupted = await second_store.get_job(job.id)
        assert interrupted is not None and interrupted.state is JobState.RUNNING
        assert 0 < interrupted.progress < 100
        assert not channel.of(job.id, "video")
        second, second_provider = local_service(second_store, tmp_path, channel)
        restarted = Scheduler(second, idle_s=0.05)
        await restarted.start()
        try:
            done = await asyncio.wait_for(second.wait_until_done(job.id), 60)
        finally:
            await restarted.stop()
            await second_provider.aclose()
        assert done.state is JobState.DELIVERED
        assert len(channel.of(job.id, "video")) == 1
        width, height, duration, frames = probe(tmp_path / "channel" / f"{job.id}.mp4")
        assert (width, height, frames) == (1280, 720, 144)
        assert duration == pytest.approx(6.0, abs=1 / 24)
        ledger = await second_store.ledger([job.id])
        assert ledger[0]["status"] == "settled"
    finally:
        await second_store.close()


@pytest.mark.parametrize(
    ("aspect", "size"), [("16:9", (640, 360)), ("9:16", (360, 640)), ("1:1", (360, 360))]
)
async def test_renders_honour_aspect_and_duration_from_first_and_last_frames(
    store: SqliteStore, tmp_path: Path, aspect: str, size: tuple[int, int]
) -> None:
    channel = KeepingSurface(tmp_path / "channel")
    service, provider = local_service(store, tmp_path, channel)
    request = GenerationRequest(
        prompt="the sky turns",
        model="local-draft",
        duration_s=2,
        aspect_ratio=aspect,
        first_frame=load_image(png_bytes(640, 480, (250, 10, 10))),
        last_frame=load_image(png_bytes(480, 640, (10, 10, 250))),
    )
    job = await service.submit(request, origin())
    scheduler = Scheduler(service, idle_s=0.05)
    await scheduler.start()
    try:
        done = await asyncio.wait_for(service.wait_until_done(job.id), 60)
    finally:
        await scheduler.stop()
        await provider.aclose()
    assert done.state is JobState.DELIVERED
    width, height, duration, frames = probe(tmp_path / "channel" / f"{job.id}.mp4")
    assert ((width, height), frames) == (size, 48)
    assert duration == pytest.approx(2.0, abs=1 / 24)


async def test_submitting_the_same_job_twice_renders_once(tmp_path: Path) -> None:
    provider = LocalProvider(tmp_path / "renders")
    request = GenerationRequest(
        prompt="x",
        model="local-draft",
        duration_s=2,
        aspect_ratio="1:1",
        resolution="360p",
        seed=1,
    )
    try:
        first = await provider.submit("job1", request, callback_url=None)
        second = await provider.submit("job1", request, callback_url=None)
        assert first == second == "job1"
        assert len(list((tmp_path / "renders").iterdir())) == 1
        status = await provider.get_status("job1")
        assert status.state in (
            ProviderJobState.QUEUED,
            ProviderJobState.RUNNING,
            ProviderJobState.SUCCEEDED,
        )
    finally:
        await provider.aclose()


async def test_an_unknown_render_is_not_found(tmp_path: Path) -> None:
    provider = LocalProvider(tmp_path / "renders")
    with pytest.raises(ProviderJobNotFound):
        await provider.get_status("nope")


async def test_a_cancelled_render_stops_and_is_never_resumed(tmp_path: Path) -> None:
    provider = LocalProvider(tmp_path / "renders")
    request = GenerationRequest(
        prompt="x",
        model="local-preview",
        duration_s=10,
        aspect_ratio="16:9",
        resolution="720p",
        seed=1,
    )
    try:
        await provider.submit("job1", request, callback_url=None)
        assert await provider.cancel("job1") is True
        assert not (tmp_path / "renders" / "job1").exists()
        # A later process (or poll) finds nothing to resume.
        with pytest.raises(ProviderJobNotFound):
            await provider.get_status("job1")
        assert await provider.cancel("job1") is False
    finally:
        await provider.aclose()
