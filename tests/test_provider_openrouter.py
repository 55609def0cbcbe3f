"""The OpenRouter adapter against its fake (docs/providers.md §5): the JSON OpenRouter gets for
every input kind, the MP4 the channel gets, the model list that feeds the catalog at run time
(and its cache), signed webhooks through the bot's own web server, and every failure ending
refunded in plain words."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from adapters.console import ConsoleSurface
from adapters.providers.openrouter import OpenRouterProvider
from bot import app
from bot.catalog import InputKind
from bot.clock import SystemClock
from bot.errors import InvalidRequest
from bot.jobs import JobService
from bot.links import MediaLinks
from bot.live_models import LiveModels
from bot.media import load_image
from bot.models import GenerationRequest, Job, JobState
from bot.scheduler import Scheduler
from bot.settings import Settings
from bot.web import build_web_app
from storage.sqlite import SqliteStore
from tests.fakes._base import Fault
from tests.fakes.openrouter import API_KEY, OpenRouterFake, sign, video_model
from tests.support import KeepingSurface, eventually, make_service, origin, png_bytes, run_cli

SUBMIT = "/api/v1/videos"
CONTENT = "/api/v1/videos/*/content"
SECRET = "whsec-openrouter-test"  # the workspace's webhook signing secret
LINK_SECRET = "links-and-callbacks-secret"
FIRST = png_bytes(640, 360, (250, 10, 10))
LAST = png_bytes(640, 360, (10, 10, 250))
REF = png_bytes(320, 320, (10, 200, 10))


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def frame(data: bytes, kind: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": data_url(data)}, "frame_type": kind}


@dataclass
class Bot:
    fake: OpenRouterFake
    provider: OpenRouterProvider
    service: JobService
    surface: KeepingSurface
    store: SqliteStore
    public_url: str | None

    async def run(self, request: GenerationRequest) -> Job:
        job = await self.service.submit(request, origin())
        return await asyncio.wait_for(self.service.wait_until_done(job.id), 10)

    def sent(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.fake.received("POST", SUBMIT)]

    def delivered_once(self, job: Job) -> None:
        assert job.state is JobState.DELIVERED, (job.error_code, job.error_message)
        assert self.surface.videos[job.id] == [self.fake.video]

    async def failed(
        self, job: Job, code: str, words: str, *, state: JobState = JobState.FAILED
    ) -> str:
        assert (job.state, job.error_code) == (state, code), job.error_message
        [post] = self.surface.of(job.id, "failure")
        assert words in post.text and "not charged" in post.text, post.text
        assert not re.search(r"\b[1-5]\d\d\b", post.text) and "{" not in post.text
        [row] = await self.store.ledger([job.id])
        assert row["status"] == "refunded"
        assert not self.surface.of(job.id, "video")
        return post.text

    async def live_models(self) -> None:
        """Read the fake's model list into the service's catalog, as the runtime does."""
        models = LiveModels(
            self.service.catalog,
            {"openrouter": self.provider},
            self.service.config.work_dir / "models",
            SystemClock(),
        )
        assert await models.refresh()


@asynccontextmanager
async def openrouter_bot(
    store: SqliteStore,
    tmp_path: Path,
    *,
    public: bool = False,
    public_url: str | None = None,
    provider_secret: str | None = None,
    api_key: str = API_KEY,
    poll_interval_s: float = 0.01,
    job_timeout_s: float = 600.0,
    **fake_options: Any,
) -> AsyncIterator[Bot]:
    """The bot with the OpenRouter provider against a fresh fake. With `public`, the bot's web
    server runs on 127.0.0.1 and is the public URL: images go as signed links the fake fetches,
    and the fake's webhooks reach `/callbacks/openrouter/{job}`."""
    fake = OpenRouterFake(**{"job_duration_s": 0.05, **fake_options})
    await fake.start()
    runner: web.AppRunner | None = None
    listener = socket.socket()
    if public:
        listener.bind(("127.0.0.1", 0))
        public_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    links = MediaLinks(public_url, LINK_SECRET, SystemClock())
    provider = OpenRouterProvider(
        api_key, links, base_url=fake.api_base, webhook_secret=provider_secret
    )
    surface = KeepingSurface()
    service = make_service(
        store,
        tmp_path,
        providers={"openrouter": provider},
        surfaces={"chat": surface},
        default_provider="openrouter",
        poll_interval_s=poll_interval_s,
        job_timeout_s=job_timeout_s,
        public_url=public_url,
        webhook_secret=LINK_SECRET if public_url else None,
    )
    if public:
        runner = web.AppRunner(build_web_app(store, links, service=service))
        await runner.setup()
        await web.SockSite(runner, listener).start()
    scheduler = Scheduler(service, idle_s=0.02)
    await scheduler.start()
    try:
        yield Bot(fake, provider, service, surface, store, public_url)
    finally:
        await scheduler.stop()
        await provider.aclose()
        if runner is not None:
            await runner.cleanup()
        listener.close()
        await fake.close()


@pytest.fixture
async def bot(store: SqliteStore, tmp_path: Path) -> AsyncIterator[Bot]:
    async with openrouter_bot(store, tmp_path) as running:
        yield running


# --- what OpenRouter gets -------------------------------------------------------------------


async def test_text_to_video_sends_the_documented_body_and_posts_the_mp4(bot: Bot) -> None:
    job = await bot.run(
        GenerationRequest(
            prompt="a paper boat drifts down a rainy street",
            model="google/veo-3.1",
            duration_s=6,
            aspect_ratio="9:16",
            resolution="1080p",
            seed=42,
            audio=True,
        )
    )

    bot.delivered_once(job)
    assert bot.sent() == [
        {
            "model": "google/veo-3.1",
            "prompt": "a paper boat drifts down a rainy street",
            "duration": 6,
            "resolution": "1080p",
            "aspect_ratio": "9:16",
            "generate_audio": True,
            "seed": 42,
        }
    ]
    [submit] = bot.fake.received("POST", SUBMIT)
    assert submit.headers["Authorization"] == f"Bearer {API_KEY}"
    assert job.provider_job_id in bot.fake.jobs
    polls = bot.fake.received("GET", f"{SUBMIT}/{job.provider_job_id}")
    assert polls and all(p.headers["Authorization"] == f"Bearer {API_KEY}" for p in polls)
    # The result is OpenRouter's own content route: fetched with the key.
    [download] = bot.fake.received("GET", CONTENT)
    assert download.path == f"{SUBMIT}/{job.provider_job_id}/content"
    assert download.query == {"index": "0"}
    assert download.headers["Authorization"] == f"Bearer {API_KEY}"
    [row] = await bot.store.ledger([job.id])
    assert row["status"] == "settled"


async def test_the_default_is_veo_31_fast_without_sound(bot: Bot) -> None:
    job = await bot.run(GenerationRequest(prompt="bees over lavender"))

    bot.delivered_once(job)
    [body] = bot.sent()
    assert body["model"] == "google/veo-3.1-fast"
    assert (body["duration"], body["resolution"], body["aspect_ratio"]) == (8, "720p", "16:9")
    assert body["generate_audio"] is False  # OpenRouter's own default would be sound on
    assert isinstance(body["seed"], int)  # a seed is drawn so the video can be remade


async def test_first_frame_goes_in_frame_images(bot: Bot) -> None:
    job = await bot.run(
        GenerationRequest(
            prompt="the lighthouse beam sweeps the fog",
            model="google/veo-3.1",
            duration_s=4,
            seed=1,
            first_frame=load_image(FIRST),
        )
    )

    bot.delivered_once(job)
    [body] = bot.sent()
    assert body["frame_images"] == [frame(FIRST, "first_frame")]
    assert "input_references" not in body
    assert bot.fake.fetched_images == [FIRST]


async def test_first_and_last_frame_go_in_frame_images(bot: Bot) -> None:
    job = await bot.run(
        GenerationRequest(
            prompt="day turns to night over the bay",
            model="google/veo-3.1-lite",
            seed=3,
            first_frame=load_image(FIRST),
            last_frame=load_image(LAST),
        )
    )

    bot.delivered_once(job)
    [body] = bot.sent()
    assert body == {
        "model": "google/veo-3.1-lite",
        "prompt": "day turns to night over the bay",
        "duration": 8,
        "resolution": "720p",
        "aspect_ratio": "16:9",
        "generate_audio": False,
        "seed": 3,
        "frame_images": [frame(FIRST, "first_frame"), frame(LAST, "last_frame")],
    }


async def test_reference_images_go_in_input_references_at_eight_seconds(bot: Bot) -> None:
    job = await bot.run(
        GenerationRequest(
            prompt="the yellow robot waters the fern",
            model="google/veo-3.1",
            seed=5,
            reference_images=(load_image(REF), load_image(FIRST)),
        )
    )

    bot.delivered_once(job)
    [body] = bot.sent()
    assert body["input_references"] == [
        {"type": "image_url", "image_url": {"url": data_url(REF)}},
        {"type": "image_url", "image_url": {"url": data_url(FIRST)}},
    ]
    assert body["duration"] == 8 and "frame_images" not in body


async def test_with_a_public_url_images_are_signed_links_the_fake_fetches(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with openrouter_bot(store, tmp_path, public=True, http_callbacks=True) as bot:
        job = await bot.run(
            GenerationRequest(
                prompt="grass sways", model="google/veo-3.1", first_frame=load_image(FIRST)
            )
        )
        bot.delivered_once(job)
        [body] = bot.sent()
        url = body["frame_images"][0]["image_url"]["url"]
        assert url.startswith(f"{bot.public_url}/media/{job.id}/first_frame/0?expires=")
        assert bot.fake.fetched_images == [FIRST]
        assert body["callback_url"] == bot.service.callback_url(job)


async def test_frames_and_references_together_are_refused_before_anything_starts(
    bot: Bot,
) -> None:
    job = await bot.run(
        GenerationRequest(
            prompt="a fox",
            model="google/veo-3.1",
            first_frame=load_image(FIRST),
            reference_images=(load_image(REF),),
        )
    )

    await bot.failed(job, "provider_bad_request", "either frame images or reference images")
    assert bot.fake.received("POST", SUBMIT) == []


@pytest.mark.parametrize(
    ("request_", "field_"),
    [
        (GenerationRequest(prompt="a fox", negative_prompt="blur"), "negative_prompt"),
        (GenerationRequest(prompt="a fox", aspect_ratio="1:1"), "aspect_ratio"),
        (GenerationRequest(prompt="a fox", resolution="4K"), "resolution"),
        (GenerationRequest(prompt="a fox", duration_s=5), "duration"),
        (
            GenerationRequest(
                prompt="a fox",
                model="google/veo-3.1",
                duration_s=4,
                reference_images=(load_image(REF),),
            ),
            "duration",
        ),
        (
            GenerationRequest(
                prompt="a fox", model="google/veo-3.1-lite", reference_images=(load_image(REF),)
            ),
            "references",
        ),
        (GenerationRequest(prompt="a fox", model="openai/sora-9"), "model"),
    ],
)
async def test_the_catalog_refuses_before_anything_is_sent(
    bot: Bot, request_: GenerationRequest, field_: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        await bot.service.submit(request_, origin())

    assert refused.value.field == field_
    assert bot.fake.requests == []
    assert await bot.store.recent_jobs(5) == []


# --- the model list feeds the catalog --------------------------------------------------------


async def test_the_live_list_feeds_the_catalog(bot: Bot) -> None:
    await bot.live_models()

    catalog = bot.service.catalog
    models = {spec.id: spec for spec in catalog.models("openrouter")}
    # Every model whose limits the list states, Veo 3.1 first; the one without durations is
    # left out, because nothing could be checked or charged for it.
    assert list(models) == [
        "google/veo-3.1-fast",
        "google/veo-3.1",
        "google/veo-3.1-lite",
        "alibaba/wan-2.7",
    ]
    assert catalog.default_model("openrouter").id == "google/veo-3.1-fast"
    wan = models["alibaba/wan-2.7"]
    assert wan.label == "Alibaba: Wan 2.7"
    assert wan.durations == (5, 10) and wan.default_duration == 5
    assert wan.resolutions == ("720p", "1080p") and wan.resolution == "720p"
    assert wan.aspect_ratios == ("16:9", "9:16", "1:1", "4:3", "3:4")
    assert wan.inputs == {InputKind.TEXT, InputKind.FIRST_FRAME}
    assert (wan.audio, wan.seed, wan.negative_prompt) == (False, False, False)
    assert (wan.price_usd_per_s, wan.price_usd_per_s_audio) == (0.10, None)
    veo = models["google/veo-3.1"]
    assert veo.durations == (4, 6, 8) and veo.default_duration == 8
    assert veo.inputs == set(InputKind) - {InputKind.VIDEO}
    assert (veo.audio, veo.seed, veo.max_references) == (True, True, 3)
    assert (veo.price_usd_per_s, veo.price_usd_per_s_audio) == (0.20, 0.40)
    assert models["google/veo-3.1-lite"].max_references == 0
    # Other providers' models are untouched.
    assert catalog.default_model("gemini").id == "gemini-omni-1.1-flash"


async def test_a_model_openrouter_adds_is_offered_without_a_release(bot: Bot) -> None:
    bot.fake.models.append(
        video_model(
            "kwaivgi/kling-v3.0-std",
            "Kling: v3.0 Standard",
            durations=[5, 10, 15],
            resolutions=["1080p"],
            aspect_ratios=["16:9", "9:16", "1:1"],
            frames=["first_frame", "last_frame"],
            audio=True,
            seed=None,
            pricing={"per-video-second": "0.084"},
        )
    )
    with pytest.raises(InvalidRequest):
        await bot.service.submit(
            GenerationRequest(prompt="x", model="kwaivgi/kling-v3.0-std"), origin()
        )

    await bot.live_models()
    job = await bot.run(
        GenerationRequest(
            prompt="a square dance",
            model="kwaivgi/kling-v3.0-std",
            aspect_ratio="1:1",
            duration_s=15,
            first_frame=load_image(FIRST),
            last_frame=load_image(LAST),
            audio=True,
        )
    )

    bot.delivered_once(job)
    [body] = bot.sent()
    assert body == {
        "model": "kwaivgi/kling-v3.0-std",
        "prompt": "a square dance",
        "duration": 15,
        "resolution": "1080p",
        "aspect_ratio": "1:1",
        "generate_audio": True,
        "frame_images": [frame(FIRST, "first_frame"), frame(LAST, "last_frame")],
    }
    assert job.cost_s == 15


async def test_the_list_is_read_again_on_schedule(bot: Bot, tmp_path: Path) -> None:
    models = LiveModels(
        bot.service.catalog,
        {"openrouter": bot.provider},
        tmp_path / "m",
        SystemClock(),
        refresh_s=0.05,
    )
    await models.start()
    try:
        await eventually(lambda: _listed(bot, "alibaba/wan-2.7"))
        bot.fake.models = [m for m in bot.fake.models if m["id"] != "alibaba/wan-2.7"]
        bot.fake.models.append(
            video_model(
                "new/model", "New", durations=[6], resolutions=["720p"], aspect_ratios=["16:9"]
            )
        )
        await eventually(lambda: _listed(bot, "new/model"))
    finally:
        await models.stop()
    ids = [spec.id for spec in bot.service.catalog.models("openrouter")]
    assert "alibaba/wan-2.7" not in ids and "new/model" in ids
    assert len(bot.fake.received("GET", "/api/v1/videos/models")) >= 2


async def _listed(bot: Bot, model: str) -> bool | None:
    return True if any(s.id == model for s in bot.service.catalog.models("openrouter")) else None


async def test_an_unusable_or_missing_list_keeps_the_models_offered(
    bot: Bot, tmp_path: Path
) -> None:
    before = bot.service.catalog.models("openrouter")
    models = LiveModels(
        bot.service.catalog, {"openrouter": bot.provider}, tmp_path / "m", SystemClock()
    )
    bot.fake.models = [video_model("example/no-limits", "No limits")]
    assert await models.refresh()  # it answered, with nothing the bot can offer
    bot.fake.inject(
        Fault("/api/v1/videos/models", 503, {"error": {"code": 503, "message": "down"}})
    )
    assert not await models.refresh()
    assert bot.service.catalog.models("openrouter") == before
    assert not (tmp_path / "m" / "openrouter.json").exists()


async def test_a_restart_without_network_offers_the_cached_list(tmp_path: Path) -> None:
    async with OpenRouterFake() as fake:
        assert isinstance(fake, OpenRouterFake)
        settings = _settings(tmp_path, fake.api_base)
        runtime = await app.open_runtime(settings, {})
        try:
            assert "alibaba/wan-2.7" not in _ids(runtime)  # the built-in table, before reading
            assert await runtime.models.refresh()
            assert "alibaba/wan-2.7" in _ids(runtime)
        finally:
            await runtime.aclose()
        dead_port = fake.port
    # OpenRouter is now unreachable: the next start offers what was read last time.
    runtime = await app.open_runtime(
        _settings(tmp_path, f"http://127.0.0.1:{dead_port}/api/v1"), {}
    )
    try:
        assert not await runtime.models.refresh()
        assert "alibaba/wan-2.7" in _ids(runtime)
        assert runtime.catalog.default_model("openrouter").id == "google/veo-3.1-fast"
    finally:
        await runtime.aclose()
    cached = json.loads((tmp_path / "data" / "models" / "openrouter.json").read_text())
    assert [m["id"] for m in cached["listing"]["data"]][:2] == ["alibaba/wan-2.7", "google/veo-3.1"]


@pytest.mark.parametrize(
    "cached",
    ["{not json", '["a list"]', '{"listing": {"data": [{"id": "x/y"}]}}'],
    ids=["torn", "not an object", "no usable model"],
)
async def test_a_bad_cache_is_ignored_and_the_built_in_table_stays(
    tmp_path: Path, cached: str
) -> None:
    cache = tmp_path / "data" / "models" / "openrouter.json"
    cache.parent.mkdir(parents=True)
    cache.write_text(cached)
    runtime = await app.open_runtime(_settings(tmp_path, "http://127.0.0.1:9/api/v1"), {})
    try:
        assert _ids(runtime) == ["google/veo-3.1-fast", "google/veo-3.1", "google/veo-3.1-lite"]
    finally:
        await runtime.aclose()


async def test_the_running_bot_reads_the_list_once_it_serves(tmp_path: Path) -> None:
    async with OpenRouterFake() as fake:
        assert isinstance(fake, OpenRouterFake)
        settings = _settings(tmp_path, fake.api_base).model_copy(
            update={"veo_http_host": "127.0.0.1", "veo_http_port": 0}
        )
        stop = asyncio.Event()
        started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        server = asyncio.create_task(
            app.serve(
                settings,
                [],
                extra_surfaces={"console": ConsoleSurface()},
                stop=stop,
                started=started,
            )
        )
        cache = tmp_path / "data" / "models" / "openrouter.json"
        try:
            await asyncio.wait_for(started, 10)
            await eventually(lambda: _exists(cache))
        finally:
            stop.set()
            await asyncio.wait_for(server, 10)
        assert len(fake.received("GET", "/api/v1/videos/models")) == 1
        assert fake.received("GET", "/api/v1/videos/models")[0].headers["Authorization"] == (
            f"Bearer {API_KEY}"
        )


async def _exists(path: Path) -> bool | None:
    return True if await asyncio.to_thread(path.exists) else None


def _settings(tmp_path: Path, base: str) -> Settings:
    return Settings(
        _env_file=None,
        veo_database_url=f"sqlite:///{tmp_path / 'veo.db'}",
        veo_data_dir=tmp_path / "data",
        openrouter_api_key=API_KEY,
        openrouter_base_url=base,
    )


def _ids(runtime: app.Runtime) -> list[str]:
    return [spec.id for spec in runtime.catalog.models("openrouter")]


# --- results ----------------------------------------------------------------------------------


async def test_a_completed_job_without_urls_is_fetched_from_the_content_route(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with openrouter_bot(store, tmp_path, omit_result_urls=True) as bot:
        job = await bot.run(GenerationRequest(prompt="a heron takes off"))
        bot.delivered_once(job)
        [download] = bot.fake.received("GET", CONTENT)
        assert download.headers["Authorization"] == f"Bearer {API_KEY}"


async def test_a_signed_url_on_another_origin_never_gets_the_key(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with openrouter_bot(store, tmp_path, signed_urls=True) as bot:
        job = await bot.run(GenerationRequest(prompt="a heron takes off"))
        bot.delivered_once(job)
        assert bot.fake.received("GET", "/storage/*")
        assert not bot.fake.storage_saw_authorization
        assert not bot.fake.received("GET", CONTENT)


async def test_an_expired_result_fails_refunded_after_one_fresh_look(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with openrouter_bot(store, tmp_path, result_ttl_s=0) as bot:
        job = await bot.run(GenerationRequest(prompt="a cat on a piano"))
        await bot.failed(job, "delivery_failed", "lost or expired")
        assert len(bot.fake.received("GET", CONTENT)) == 2


# --- failures -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "code", "words"),
    [
        ("[fail] a glass city", "provider_failed", "could not make this video"),
        ("[rai] a glass city", "content_rejected", "safety filter refused"),
        ("[expire] a glass city", "provider_job_not_found", "took longer than it allows"),
        ("[cancel] a glass city", "provider_cancelled", "cancelled this video"),
        ("[flagged] a glass city", "content_rejected", "safety filter refused"),
    ],
)
async def test_failures_are_refunded_in_plain_words(
    bot: Bot, prompt: str, code: str, words: str
) -> None:
    job = await bot.run(GenerationRequest(prompt=prompt))
    text = await bot.failed(job, code, words)
    assert (
        "Content policy" not in text and "violence" not in text
    )  # the provider's words stay in the log
    assert len(bot.fake.received("POST", SUBMIT)) == 1  # not retried


async def test_no_credits_and_a_bad_key_are_said_plainly(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with openrouter_bot(store, tmp_path, credits=0) as bot:
        job = await bot.run(GenerationRequest(prompt="a red balloon"))
        await bot.failed(job, "provider_out_of_credits", "out of credits")
    async with openrouter_bot(store, tmp_path, api_key="sk-or-v1-wrong") as bot:
        job = await bot.run(GenerationRequest(prompt="a red balloon"))
        await bot.failed(job, "provider_auth", "key for this video provider was refused")


async def test_a_rate_limited_submit_waits_retry_after_then_succeeds(bot: Bot) -> None:
    started = time.monotonic()
    job = await bot.run(GenerationRequest(prompt="[429] fireflies in a jar"))

    bot.delivered_once(job)
    assert time.monotonic() - started >= 0.95  # Retry-After: 1, not the 0.05 s backoff cap
    first, second = bot.sent()
    assert first == second


async def test_a_timed_out_job_asks_no_cancel_call_and_is_refunded(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with openrouter_bot(store, tmp_path, job_timeout_s=0.3) as bot:
        job = await bot.run(GenerationRequest(prompt="[slow] a long night train"))
        await bot.failed(job, "timed_out", "took longer than", state=JobState.TIMED_OUT)
        # OpenRouter has no cancel route: nothing but the submit and reads was asked.
        assert await bot.provider.cancel(job.provider_job_id or "") is False
        assert {r.method for r in bot.fake.requests} == {"POST", "GET"}
        assert len(bot.fake.received("POST", SUBMIT)) == 1


# --- webhooks ---------------------------------------------------------------------------------


async def test_a_signed_webhook_delivers_without_waiting_for_a_poll(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with openrouter_bot(
        store,
        tmp_path,
        public=True,
        http_callbacks=True,
        webhook_secret=SECRET,
        provider_secret=SECRET,
        poll_interval_s=3600,  # no poll comes before the test's own timeout: the webhook must
    ) as bot:
        job = await bot.run(GenerationRequest(prompt="a kite over dunes"))

        bot.delivered_once(job)
        [fake_job] = bot.fake.jobs.values()
        [(status, payload, headers)] = fake_job.callbacks
        assert status == 200
        assert payload["type"] == "video.generation.completed"
        assert payload["data"]["id"] == job.provider_job_id
        assert headers["X-OpenRouter-Idempotency-Key"] == f"{job.provider_job_id}-completed"
        assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", headers["X-OpenRouter-Signature"])
        [body] = bot.sent()
        assert body["callback_url"] == bot.service.callback_url(job)
        assert body["callback_url"].startswith(f"{bot.public_url}/callbacks/openrouter/{job.id}?")


async def test_forged_stale_and_unsigned_webhooks_are_refused_and_change_nothing(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with openrouter_bot(
        store,
        tmp_path,
        public=True,
        http_callbacks=True,
        provider_secret=SECRET,
        poll_interval_s=3600,
        job_duration_s=3600,
    ) as bot:
        job = await bot.service.submit(GenerationRequest(prompt="a kite"), origin())
        submitted = await eventually(lambda: _at_provider(bot, job))
        url = bot.service.callback_url(submitted)
        assert url is not None
        [fake_job] = bot.fake.jobs.values()
        body = json.dumps(bot.fake.envelope(fake_job)).encode()
        now = int(time.time())

        def signed(secret: str, stamp: int, content: bytes = body) -> dict[str, str]:
            return {
                "Content-Type": "application/json",
                "X-OpenRouter-Signature": f"t={stamp},v1={sign(secret, stamp, content)}",
            }

        async with httpx.AsyncClient() as client:
            answers = [
                await client.post(url, content=body, headers=signed("not-the-secret", now)),
                await client.post(url, content=body, headers=signed(SECRET, now - 360)),
                await client.post(url, content=body, headers=signed(SECRET, now + 360)),
                await client.post(
                    url, content=body.replace(b"pending", b"completed"), headers=signed(SECRET, now)
                ),
                await client.post(url, content=body, headers={"Content-Type": "application/json"}),
                await client.post(
                    url, content=body, headers={"X-OpenRouter-Signature": f"t={now}"}
                ),
                await client.post(
                    url,
                    content=body,
                    headers={"X-OpenRouter-Signature": f"t=soon,v1={sign(SECRET, now, body)}"},
                ),
            ]
            after = await bot.service.get_job(job.id)
            reads_before = len(bot.fake.received("GET", f"{SUBMIT}/{submitted.provider_job_id}"))
            good = await client.post(url, content=body, headers=signed(SECRET, now))
        assert [a.status_code for a in answers] == [401] * len(answers)
        assert after is not None and after.version == submitted.version
        assert after.due_at == submitted.due_at
        assert reads_before == 0  # no refusal made the bot ask OpenRouter anything
        assert good.status_code == 200 and good.json()["outcome"] == "polling"
        await eventually(lambda: _read(bot, submitted))


async def _at_provider(bot: Bot, job: Job) -> Job | None:
    current = await bot.service.get_job(job.id)
    return current if current is not None and current.state is JobState.SUBMITTED else None


async def _read(bot: Bot, job: Job) -> bool | None:
    return True if bot.fake.received("GET", f"{SUBMIT}/{job.provider_job_id}") else None


async def test_without_a_secret_an_unsigned_webhook_is_taken_on_the_token_alone(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with openrouter_bot(
        store, tmp_path, public=True, http_callbacks=True, poll_interval_s=3600
    ) as bot:
        job = await bot.run(GenerationRequest(prompt="a kite"))
        bot.delivered_once(job)
        [fake_job] = bot.fake.jobs.values()
        [(status, _payload, headers)] = fake_job.callbacks
        assert status == 200 and "X-OpenRouter-Signature" not in headers


async def test_a_plain_http_callback_refused_by_openrouter_falls_back_to_polling(
    store: SqliteStore, tmp_path: Path
) -> None:
    # The fake wants HTTPS, as OpenRouter does; the bot's public URL is plain HTTP.
    async with openrouter_bot(store, tmp_path, public=True) as bot:
        first = await bot.run(GenerationRequest(prompt="a tram in the rain"))
        second = await bot.run(GenerationRequest(prompt="a tram in the snow"))

        bot.delivered_once(first)
        bot.delivered_once(second)
        refused, retried, learned = bot.sent()
        assert refused["callback_url"].startswith(f"{bot.public_url}/callbacks/openrouter/")
        assert {k: v for k, v in refused.items() if k != "callback_url"} == retried
        assert "callback_url" not in learned  # asked once, not again for every job
        assert len(bot.fake.jobs) == 2


async def test_an_https_callback_url_is_always_sent(store: SqliteStore, tmp_path: Path) -> None:
    with socket.socket() as probe:  # an HTTPS URL nobody answers: the webhook is lost
        probe.bind(("127.0.0.1", 0))
        dead = f"https://127.0.0.1:{probe.getsockname()[1]}"
    async with openrouter_bot(store, tmp_path, public_url=dead) as bot:
        job = await bot.run(GenerationRequest(prompt="a lantern rises"))
        bot.delivered_once(job)  # by polling
        [body] = bot.sent()
        assert body["callback_url"] == bot.service.callback_url(job)


# --- health -----------------------------------------------------------------------------------


async def test_health_checks_the_key_and_lists_live_models(bot: Bot) -> None:
    health = await bot.provider.health()
    assert (health.reachable, health.key_accepted) == (True, True)
    assert health.live_models is not None and "google/veo-3.1" in health.live_models
    assert "37.50" in health.detail and API_KEY not in health.detail
    [key] = bot.fake.received("GET", "/api/v1/key")
    assert key.headers["Authorization"] == f"Bearer {API_KEY}"

    wrong = OpenRouterProvider(
        "sk-or-v1-nope", MediaLinks(None, "s", SystemClock()), base_url=bot.fake.api_base
    )
    try:
        refused = await wrong.health()
    finally:
        await wrong.aclose()
    assert (refused.reachable, refused.key_accepted, refused.live_models) == (True, False, None)
    assert "sk-or-v1-nope" not in refused.detail

    port = bot.fake.port
    await bot.fake.close()
    gone = OpenRouterProvider(
        API_KEY, MediaLinks(None, "s", SystemClock()), base_url=f"http://127.0.0.1:{port}/api/v1"
    )
    try:
        down = await gone.health()
    finally:
        await gone.aclose()
    assert (down.reachable, down.key_accepted) == (False, None)


# --- the fake is strict -----------------------------------------------------------------------

GOOD = {
    "model": "google/veo-3.1",
    "prompt": "a fox",
    "duration": 8,
    "resolution": "720p",
    "aspect_ratio": "16:9",
}


@pytest.mark.parametrize(
    ("body", "auth", "status", "words"),
    [
        (GOOD, "none", 401, "No auth credentials"),
        (GOOD, "wrong", 401, "User not found"),
        ({**GOOD, "model": "openai/sora-9"}, "key", 404, "not found"),
        ({k: v for k, v in GOOD.items() if k != "prompt"}, "key", 400, "prompt is required"),
        ({**GOOD, "duration": "8"}, "key", 400, "positive integer"),
        ({**GOOD, "duration": 5}, "key", 400, "duration 5 is not supported"),
        ({**GOOD, "resolution": "4k"}, "key", 400, "resolution must be one of"),
        ({**GOOD, "resolution": "4K"}, "key", 400, "not supported by google/veo-3.1"),
        ({**GOOD, "aspect_ratio": "1:1"}, "key", 400, "not supported by google/veo-3.1"),
        ({**GOOD, "negative_prompt": "blur"}, "key", 400, "Unrecognized key"),
        (
            {**GOOD, "frame_images": [{**frame(FIRST, "first_frame"), "frame_type": "middle"}]},
            "key",
            400,
            "frame_type must be",
        ),
        (
            {**GOOD, "frame_images": [frame(FIRST, "first_frame"), frame(LAST, "first_frame")]},
            "key",
            400,
            "same frame_type twice",
        ),
        (
            {
                **GOOD,
                "model": "alibaba/wan-2.7",
                "duration": 5,
                "frame_images": [frame(LAST, "last_frame")],
            },
            "key",
            400,
            "does not support last_frame",
        ),
        (
            {**GOOD, "frame_images": [frame(b"GIF89a\x01\x00\x01\x00", "first_frame")]},
            "key",
            400,
            "not a PNG, JPEG or WebP",
        ),
        (
            {
                **GOOD,
                "duration": 4,
                "input_references": [{"type": "image_url", "image_url": {"url": data_url(REF)}}],
            },
            "key",
            400,
            "8 seconds only",
        ),
        ({**GOOD, "generate_audio": "yes"}, "key", 400, "must be a boolean"),
        (
            {**GOOD, "callback_url": "http://bot.example/callbacks"},
            "key",
            400,
            "callback_url must be an HTTPS URL",
        ),
        ({**GOOD, "callback_url": "https://bot.example/cb", "seed": 7}, "key", 202, "pending"),
    ],
)
async def test_the_fake_refuses_what_openrouter_refuses(
    body: dict[str, Any], auth: str, status: int, words: str
) -> None:
    headers = {
        "key": {"Authorization": f"Bearer {API_KEY}"},
        "wrong": {"Authorization": "Bearer sk-or-v1-x"},
    }
    async with OpenRouterFake(job_duration_s=3600) as fake, httpx.AsyncClient() as client:
        answer = await client.post(
            f"{fake.base_url}{SUBMIT}", json=body, headers=headers.get(auth, {})
        )
    assert answer.status_code == status, answer.text
    assert words in answer.text
    if status >= 400:
        assert answer.json()["error"]["code"] == status


# --- the one command ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "images", [(), ("--image",), ("--image", "--end-image")], ids=["text", "image", "first-last"]
)
async def test_veo_bot_try_makes_a_video_through_the_fake(
    tmp_path: Path, images: tuple[str, ...]
) -> None:
    args: list[str] = []
    for flag, data in zip(images, (FIRST, LAST), strict=False):
        path = tmp_path / f"{flag.strip('-')}.png"
        path.write_bytes(data)
        args += [flag, str(path)]
    async with OpenRouterFake(job_duration_s=0.1) as fake:
        assert isinstance(fake, OpenRouterFake)
        result = await asyncio.to_thread(
            run_cli,
            tmp_path,
            "try",
            "a paper lantern rises",
            "--provider",
            "openrouter",
            "--model",
            "google/veo-3.1",
            *args,
            OPENROUTER_API_KEY=API_KEY,
            OPENROUTER_BASE_URL=fake.api_base,
        )
        assert result.returncode == 0, result.stderr
        path = Path(result.stdout.strip().splitlines()[-1])
        assert path.suffix == ".mp4"
        assert await asyncio.to_thread(path.read_bytes) == fake.video
        assert API_KEY not in result.stdout + result.stderr
        [post] = fake.received("POST", SUBMIT)
        sent = post.json()
        assert sent["model"] == "google/veo-3.1"
        kinds = [f["frame_type"] for f in sent.get("frame_images", [])]
        assert kinds == ["first_frame", "last_frame"][: len(images)]
        assert fake.received("GET", "/api/v1/videos/models")  # the live list was read first
