"""The AIML API adapter against its fake: the JSON AIML gets, field by field (as AIML documents
it), the MP4 the channel gets, and every failure ending refunded in plain words."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from adapters.providers.aimlapi import AimlapiProvider
from bot.clock import SystemClock
from bot.errors import InvalidRequest
from bot.jobs import JobService
from bot.links import MediaLinks
from bot.media import load_image
from bot.models import GenerationRequest, Job, JobState
from bot.scheduler import Scheduler
from bot.web import build_web_app
from storage.sqlite import SqliteStore
from tests.fakes._base import Fault
from tests.fakes.aimlapi import API_KEY, AimlapiFake
from tests.support import (
    KeepingSurface,
    eventually,
    make_service,
    origin,
    png_bytes,
    run_cli,
)

SUBMIT = "/v2/generate/video/google/generation"
SECRET = "links-secret"


@dataclass
class Bot:
    fake: AimlapiFake
    service: JobService
    surface: KeepingSurface
    store: SqliteStore

    async def run(self, request: GenerationRequest) -> Job:
        job = await self.service.submit(
            request.model_copy(update={"provider": "aimlapi"}), origin()
        )
        return await asyncio.wait_for(self.service.wait_until_done(job.id), 10)

    def sent(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.fake.received("POST", SUBMIT)]

    async def ledger(self, job: Job) -> str:
        [row] = await self.store.ledger([job.id])
        return str(row["status"])

    def failure(self, job: Job) -> str:
        [post] = self.surface.of(job.id, "failure")
        assert not self.surface.of(job.id, "video")
        return post.text


@pytest.fixture
async def bot(store: SqliteStore, tmp_path: Path) -> AsyncIterator[Bot]:
    async with RunningBot(store, tmp_path, public_url=None) as running:
        yield running


class RunningBot:
    """The bot with the AIML provider against a fresh fake; with `public_url`, the bot's web
    server runs too, so images travel as signed links the fake fetches."""

    def __init__(self, store: SqliteStore, tmp_path: Path, *, public_url: bool | None) -> None:
        self.store, self.tmp_path, self.public = store, tmp_path, public_url
        self.fake = AimlapiFake(job_duration_s=0.05)
        self.runner: web.AppRunner | None = None
        self.scheduler: Scheduler | None = None
        self.provider: AimlapiProvider | None = None

    async def __aenter__(self) -> Bot:
        await self.fake.start()
        base = None
        if self.public:
            links_for_server = MediaLinks("http://unused", SECRET, SystemClock())
            self.runner = web.AppRunner(build_web_app(self.store, links_for_server))
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", 0).start()
            base = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        links = MediaLinks(base, SECRET, SystemClock())
        self.provider = AimlapiProvider(API_KEY, links, base_url=self.fake.base_url)
        surface = KeepingSurface()
        service = make_service(
            self.store,
            self.tmp_path,
            providers={"aimlapi": self.provider},
            surfaces={"chat": surface},
            default_provider="aimlapi",
        )
        self.scheduler = Scheduler(service, idle_s=0.02)
        await self.scheduler.start()
        return Bot(self.fake, service, surface, self.store)

    async def __aexit__(self, *exc: object) -> None:
        assert self.scheduler is not None and self.provider is not None
        await self.scheduler.stop()
        await self.provider.aclose()
        if self.runner is not None:
            await self.runner.cleanup()
        await self.fake.close()


def delivered_once(bot: Bot, job: Job) -> None:
    assert job.state is JobState.DELIVERED, (job.error_code, job.error_message)
    assert bot.surface.videos[job.id] == [bot.fake.video]
    assert not bot.fake.cdn_saw_authorization  # the key never leaves AIML's own host


async def test_text_to_video_sends_the_seed_fields(bot: Bot) -> None:
    job = await bot.run(
        GenerationRequest(
            prompt="A dragon over the mountain",
            model="veo2",
            duration_s=6,
            aspect_ratio="9:16",
            negative_prompt="blur",
            seed=42,
            extras={"enhance_prompt": False},
        )
    )
    delivered_once(bot, job)
    assert bot.sent() == [
        {
            "model": "veo2",
            "prompt": "A dragon over the mountain",
            "aspect_ratio": "9:16",
            "duration": 6,
            "negative_prompt": "blur",
            "seed": 42,
            "enhance_prompt": False,
        }
    ]
    assert bot.fake.received("POST", SUBMIT)[0].headers["Authorization"] == f"Bearer {API_KEY}"
    assert await bot.ledger(job) == "settled"


async def test_first_and_last_frame_travel_as_data_uris_without_a_public_url(bot: Bot) -> None:
    first, last = png_bytes(640, 360, (250, 0, 0)), png_bytes(640, 360, (0, 0, 250))
    job = await bot.run(
        GenerationRequest(
            prompt="red to blue",
            model="veo2/image-to-video",
            duration_s=5,
            seed=1,
            first_frame=load_image(first),
            last_frame=load_image(last),
        )
    )
    delivered_once(bot, job)
    [sent] = bot.sent()
    assert sent["image_url"] == "data:image/png;base64," + base64.b64encode(first).decode()
    assert sent["tail_image_url"] == "data:image/png;base64," + base64.b64encode(last).decode()
    assert bot.fake.fetched_images == [first, last]


async def test_with_a_public_url_the_fake_fetches_a_signed_link_to_the_exact_image(
    store: SqliteStore, tmp_path: Path
) -> None:
    first = png_bytes(640, 360, (0, 200, 0))
    async with RunningBot(store, tmp_path, public_url=True) as bot:
        job = await bot.run(
            GenerationRequest(
                prompt="grass", model="veo2/image-to-video", first_frame=load_image(first)
            )
        )
        delivered_once(bot, job)
        [sent] = bot.sent()
        assert "/media/" in sent["image_url"] and "signature=" in sent["image_url"]
        assert bot.fake.fetched_images == [first]


async def test_an_opaque_generation_id_is_passed_back_verbatim(bot: Bot) -> None:
    bot.fake.opaque_ids = True
    job = await bot.run(GenerationRequest(prompt="waves", model="veo2"))
    delivered_once(bot, job)
    assert ":google/veo2" in (job.provider_job_id or "")
    polls = bot.fake.received("GET", SUBMIT)
    assert polls and all(p.query["generation_id"] == job.provider_job_id for p in polls)


@pytest.mark.parametrize(
    ("prompt", "code", "words"),
    [
        ("[fail] a storm", "provider_failed", "could not make this video"),
        ("[rai] a storm", "content_rejected", "safety filter refused"),
    ],
)
async def test_failed_generations_are_refunded_in_plain_words(
    bot: Bot, prompt: str, code: str, words: str
) -> None:
    job = await bot.run(GenerationRequest(prompt=prompt, model="veo2"))
    assert (job.state, job.error_code) == (JobState.FAILED, code)
    text = bot.failure(job)
    assert words in text and "not charged" in text
    assert "Moderation" not in text and "{" not in text
    assert await bot.ledger(job) == "refunded"


@pytest.mark.parametrize(
    ("status", "code", "words"),
    [
        (401, "provider_auth", "key for this video provider was refused"),
        (403, "provider_out_of_credits", "out of credits"),
        (400, "provider_bad_request", "refused this request"),
    ],
)
async def test_refusals_at_submit_are_refunded_in_plain_words(
    bot: Bot, status: int, code: str, words: str
) -> None:
    bot.fake.inject(Fault(SUBMIT, status, {"message": "nope", "statusCode": str(status)}, "POST"))
    job = await bot.run(GenerationRequest(prompt="a fox", model="veo2"))
    assert (job.state, job.error_code) == (JobState.FAILED, code)
    assert words in bot.failure(job)
    assert await bot.ledger(job) == "refunded"


async def test_running_out_of_credits_is_the_real_403(bot: Bot) -> None:
    bot.fake.credits = 0
    job = await bot.run(GenerationRequest(prompt="a fox", model="veo2"))
    assert job.error_code == "provider_out_of_credits"


async def test_a_429_without_retry_after_and_a_5xx_burst_are_retried(bot: Bot) -> None:
    bot.fake.inject(Fault("/v2/*", 503, "down", "GET", times=3))
    job = await bot.run(GenerationRequest(prompt="[429] a fox", model="veo2"))
    delivered_once(bot, job)
    assert len(bot.fake.received("POST", SUBMIT)) == 2


async def test_a_generation_the_provider_lost_is_refunded(bot: Bot) -> None:
    job = await bot.service.submit(
        GenerationRequest(prompt="[slow] a fox", model="veo2", provider="aimlapi"), origin()
    )

    async def submitted() -> Job | None:
        current = await bot.service.get_job(job.id)
        return current if current and current.provider_job_id else None

    current = await eventually(submitted)
    bot.fake.expire(current.provider_job_id or "")
    done = await asyncio.wait_for(bot.service.wait_until_done(job.id), 10)
    assert (done.state, done.error_code) == (JobState.FAILED, "provider_job_not_found")
    assert await bot.ledger(done) == "refunded"


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        (GenerationRequest(prompt="x", model="veo2", aspect_ratio="1:1"), "not 1:1"),
        (GenerationRequest(prompt="x", model="veo2", duration_s=9), "not 9"),
        (
            GenerationRequest(prompt="x", model="veo2", first_frame=load_image(png_bytes())),
            "veo2/image-to-video",
        ),
    ],
)
async def test_impossible_requests_are_refused_before_anything_is_sent(
    bot: Bot, request_: GenerationRequest, words: str
) -> None:
    with pytest.raises(InvalidRequest, match=words):
        await bot.service.submit(request_.model_copy(update={"provider": "aimlapi"}), origin())
    assert bot.fake.requests == []
    assert await bot.store.ledger() == []


async def test_veo_bot_try_works_against_the_fake(tmp_path: Path) -> None:
    async with AimlapiFake(job_duration_s=0.1) as fake:
        result = await asyncio.to_thread(
            run_cli,
            tmp_path,
            "try",
            "a kite",
            "--provider",
            "aimlapi",
            "--model",
            "veo2",
            AIMLAPI_KEY=API_KEY,
            AIMLAPI_BASE_URL=fake.base_url,
        )
        assert result.returncode == 0, result.stderr
        video = await asyncio.to_thread(Path(result.stdout.strip()).read_bytes)
        assert video == fake.video
