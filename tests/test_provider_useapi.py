"""The useapi.net LTX Studio adapter against its fake: uploads and create bodies field by
field (seeds 000 and 001), the MP4 the channel gets, callbacks, and every failure ending
refunded in plain words."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from adapters.providers.useapi import UseapiProvider
from bot.clock import SystemClock
from bot.jobs import JobService
from bot.links import MediaLinks
from bot.media import load_image
from bot.models import GenerationRequest, Job, JobState
from bot.scheduler import Scheduler
from bot.web import build_web_app
from storage.sqlite import SqliteStore
from tests.fakes._base import Fault
from tests.fakes.useapi import TOKEN, FakeJob, UseapiFake
from tests.support import KeepingSurface, make_service, origin, png_bytes, run_cli

UPLOAD = "/v1/ltxstudio/assets/"
FIRST = png_bytes(640, 360, (250, 10, 10))
LAST = png_bytes(640, 360, (10, 10, 250))


@dataclass
class Bot:
    fake: UseapiFake
    service: JobService
    surface: KeepingSurface
    store: SqliteStore

    async def run(self, request: GenerationRequest) -> Job:
        job = await self.service.submit(request, origin())
        return await asyncio.wait_for(self.service.wait_until_done(job.id), 10)

    def created(self, endpoint: str) -> dict[str, Any]:
        [post] = self.fake.received("POST", f"/v1/ltxstudio/videos/{endpoint}")
        body: dict[str, Any] = post.json()
        return body

    def delivered_once(self, job: Job) -> None:
        assert job.state is JobState.DELIVERED, (job.error_code, job.error_message)
        assert self.surface.videos[job.id] == [self.fake.video]
        assert not self.fake.result_saw_authorization  # storage never sees our token

    async def failed(self, job: Job, code: str, words: str) -> None:
        assert (job.state, job.error_code) == (JobState.FAILED, code)
        [post] = self.surface.of(job.id, "failure")
        assert words in post.text and "not charged" in post.text and "{" not in post.text
        [row] = await self.store.ledger([job.id])
        assert row["status"] == "refunded"


@asynccontextmanager
async def useapi_bot(
    store: SqliteStore,
    tmp_path: Path,
    *,
    email: str | None = None,
    poll_interval_s: float = 0.01,
    public_url: str | None = None,
    http_timeout: httpx.Timeout | None = None,
    **fake_options: Any,
) -> AsyncIterator[Bot]:
    async with UseapiFake(job_duration_s=0.05, **fake_options) as fake:
        assert isinstance(fake, UseapiFake)
        provider = UseapiProvider(TOKEN, email=email, base_url=fake.base_url, timeout=http_timeout)
        surface = KeepingSurface()
        service = make_service(
            store,
            tmp_path,
            providers={"useapi": provider},
            surfaces={"chat": surface},
            default_provider="useapi",
            poll_interval_s=poll_interval_s,
            webhook_secret="hook-secret",
            public_url=public_url,
        )
        scheduler = Scheduler(service, idle_s=0.02)
        await scheduler.start()
        try:
            yield Bot(fake, service, surface, store)
        finally:
            await scheduler.stop()
            await provider.aclose()


async def test_veo2_from_a_first_frame_matches_seed_000(store: SqliteStore, tmp_path: Path) -> None:
    async with useapi_bot(store, tmp_path) as bot:
        job = await bot.run(
            GenerationRequest(
                prompt="A serene landscape",
                model="veo2",
                duration_s=5,
                aspect_ratio="16:9",
                seed=123456,
                first_frame=load_image(FIRST),
            )
        )
        bot.delivered_once(job)
        [upload] = bot.fake.received("POST", UPLOAD)
        assert upload.query == {"type": "reference-image"}
        assert upload.headers["Content-Type"] == "image/png" and upload.body == FIRST
        body = bot.created("veo-create")
        file_id = body.pop("startAssetId")
        assert bot.fake.assets[file_id] == ("reference-image", FIRST)
        assert body == {
            "prompt": "A serene landscape",
            "model": "veo2",
            "duration": "5",
            "aspectRatio": "16:9",
            "audioSFX": False,
            "seed": 123456,
        }
        assert "@" in (job.provider_job_id or "")  # an id with ':' and '@' went and came back


async def test_veo3_from_text_sends_its_resolution(store: SqliteStore, tmp_path: Path) -> None:
    async with useapi_bot(store, tmp_path) as bot:
        job = await bot.run(
            GenerationRequest(prompt="a fox", model="veo3", resolution="720p", audio=True, seed=1)
        )
        bot.delivered_once(job)
        assert bot.created("veo-create") == {
            "prompt": "a fox",
            "model": "veo3",
            "duration": "8",
            "aspectRatio": "16:9",
            "audioSFX": True,
            "seed": 1,
            "resolution": "720p",
        }
        assert bot.fake.received("POST", UPLOAD) == []


async def test_ltx_from_first_and_last_frame_matches_seed_001(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with useapi_bot(store, tmp_path) as bot:
        job = await bot.run(
            GenerationRequest(
                prompt="day to night",
                model="ltxv-turbo",
                duration_s=7,
                aspect_ratio="1:1",
                seed=5,
                first_frame=load_image(FIRST),
                last_frame=load_image(LAST),
                extras={"intensity": "high"},
            )
        )
        bot.delivered_once(job)
        assert [r.query["type"] for r in bot.fake.received("POST", UPLOAD)] == ["image", "image"]
        body = bot.created("ltx-create")
        assert bot.fake.assets[body.pop("startAssetId")] == ("image", FIRST)
        assert bot.fake.assets[body.pop("endAssetId")] == ("image", LAST)
        assert body == {
            "prompt": "day to night",
            "model": "ltxv-turbo",
            "duration": "7",
            "aspectRatio": "1:1",
            "audioSFX": False,
            "seed": 5,
            "intensity": "high",
        }


async def test_completed_without_a_url_is_still_running(store: SqliteStore, tmp_path: Path) -> None:
    async with useapi_bot(store, tmp_path, completed_without_url_polls=2) as bot:
        job = await bot.run(GenerationRequest(prompt="a fox", model="veo3"))
        bot.delivered_once(job)


async def test_several_accounts_need_and_get_the_email(store: SqliteStore, tmp_path: Path) -> None:
    accounts = ("a@example.com", "b@example.com")
    async with useapi_bot(store, tmp_path, email="b@example.com", accounts=accounts) as bot:
        job = await bot.run(
            GenerationRequest(prompt="fox", model="veo2", first_frame=load_image(FIRST))
        )
        bot.delivered_once(job)
        assert bot.fake.received("POST", UPLOAD)[0].query["email"] == "b@example.com"
        assert bot.created("veo-create")["email"] == "b@example.com"


@pytest.mark.parametrize(
    ("prompt", "code", "words"),
    [
        ("[fail] fox", "provider_failed", "could not make this video"),
        ("[rai] fox", "content_rejected", "safety filter refused"),
    ],
)
async def test_failed_jobs_are_refunded_in_plain_words(
    store: SqliteStore, tmp_path: Path, prompt: str, code: str, words: str
) -> None:
    async with useapi_bot(store, tmp_path) as bot:
        await bot.failed(await bot.run(GenerationRequest(prompt=prompt, model="veo3")), code, words)


async def test_auth_credits_and_expired_jobs(store: SqliteStore, tmp_path: Path) -> None:
    async with useapi_bot(store, tmp_path, credits=0) as bot:
        job = await bot.run(GenerationRequest(prompt="fox", model="veo3"))
        await bot.failed(job, "provider_out_of_credits", "out of credits")
        bot.fake.credits = 5
        bot.fake.inject(
            Fault("/v1/ltxstudio/videos/*", 401, {"error": "Unauthorized", "code": 401})
        )
        job = await bot.run(GenerationRequest(prompt="fox", model="veo3"))
        await bot.failed(job, "provider_auth", "key for this video provider was refused")
        submitted = await bot.service.submit(
            GenerationRequest(prompt="[slow] fox", model="veo3"), origin()
        )
        while (current := await bot.service.get_job(submitted.id)) and not current.provider_job_id:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        assert current is not None
        bot.fake.expire_job(current.provider_job_id or "")
        done = await asyncio.wait_for(bot.service.wait_until_done(submitted.id), 10)
        await bot.failed(done, "provider_job_not_found", "lost or expired")


async def test_429_5xx_resets_and_timeouts_are_survived(store: SqliteStore, tmp_path: Path) -> None:
    async with useapi_bot(store, tmp_path, http_timeout=httpx.Timeout(0.3)) as bot:
        bot.fake.inject(
            Fault(
                "/v1/ltxstudio/videos/*",
                429,
                {"error": "busy", "code": 429},
                headers={"Retry-After": "0"},
            ),
            Fault("/v1/ltxstudio/assets/email*", 503, "unavailable", "GET", times=2),
            Fault("/v1/ltxstudio/assets/email*", method="GET", reset=True),
            Fault("/v1/ltxstudio/assets/email*", method="GET", delay_s=1.0),
        )
        job = await bot.run(GenerationRequest(prompt="fox", model="veo3"))
        bot.delivered_once(job)
        assert len(bot.fake.received("POST", "/v1/ltxstudio/videos/*")) == 2


async def test_the_reply_url_callback_brings_the_result_without_waiting_for_a_poll(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with useapi_bot(store, tmp_path, poll_interval_s=3600, duplicate_callbacks=True) as bot:
        links = MediaLinks(None, "s", SystemClock())
        runner = web.AppRunner(build_web_app(store, links, service=bot.service))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        public_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        bot.service.config = replace(bot.service.config, public_url=public_url)
        try:
            job = await bot.run(GenerationRequest(prompt="fox", model="veo3"))
            bot.delivered_once(job)
            body = bot.created("veo-create")
            assert body["replyUrl"].startswith(f"{public_url}/callbacks/useapi/{job.id}?token=")
            assert body["replyRef"] == job.id
            [fake_job] = bot.fake.jobs.values()
            await asyncio.wait_for(_callbacks_sent(fake_job, 2), 10)
            assert fake_job.callbacks == [200, 200]  # the duplicate is accepted, and harmless
            assert len(bot.surface.videos[job.id]) == 1
        finally:
            await runner.cleanup()


async def _callbacks_sent(job: FakeJob, count: int) -> None:
    while len(job.callbacks) < count:  # noqa: ASYNC110 - the fake's sender has no event
        await asyncio.sleep(0.01)


async def test_veo_bot_try_works_against_the_fake(tmp_path: Path) -> None:
    async with UseapiFake(job_duration_s=0.1) as fake:
        (tmp_path / "first.png").write_bytes(FIRST)
        result = await asyncio.to_thread(
            run_cli,
            tmp_path,
            "try",
            "a kite",
            "--provider",
            "useapi",
            "--model",
            "veo2",
            "--image",
            "first.png",
            USEAPI_TOKEN=TOKEN,
            USEAPI_BASE_URL=fake.base_url,
        )
        assert result.returncode == 0, result.stderr
        assert await asyncio.to_thread(Path(result.stdout.strip()).read_bytes) == fake.video
