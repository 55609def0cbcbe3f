"""OpenRouter in health and in `veo-bot try`: the key checked and live models listed, and a
video made end to end through the fake."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.providers.openrouter import OpenRouterProvider
from bot.clock import SystemClock
from bot.links import MediaLinks
from tests.fakes.openrouter import API_KEY, OpenRouterFake
from tests.openrouter.support import FIRST, LAST, SUBMIT, Bot
from tests.support import run_cli


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
