"""OpenRouter's model list feeds the catalog at run time: read on schedule, cached for a restart
without network, and the built-in table kept when the list is unusable."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from adapters.console import ConsoleSurface
from bot import app
from bot.catalog import InputKind
from bot.clock import SystemClock
from bot.errors import InvalidRequest
from bot.live_models import LiveModels
from bot.media import load_image
from bot.models import GenerationRequest
from bot.settings import Settings
from tests.fakes._base import Fault
from tests.fakes.openrouter import API_KEY, OpenRouterFake, video_model
from tests.openrouter.support import FIRST, LAST, Bot, frame
from tests.support import eventually, origin


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
