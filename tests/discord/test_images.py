"""Images on Discord: an attached image, a first and a last frame, attachments refused, and a
prompt too long for the model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from storage.sqlite import SqliteStore
from tests.discord.support import PNG, running_bot
from tests.fakes.discord import EPHEMERAL
from tests.support import png_bytes


async def test_an_attached_image_is_animated_with_every_setting(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        picture = fake.upload(PNG, "cat.png", "image/png", size=(320, 180))
        asked = await fake.slash(
            "veo",
            {
                "prompt": "the cat yawns",
                "image": picture,
                "model": "scripted/scripted-1",
                "duration": 4,
                "aspect_ratio": "9:16",
                "seed": 42,
                "negative_prompt": "blur",
            },
        )
        assert "Queued" in await bot.reply(asked)
        done = await bot.finished(await bot.next_job())

        request = bot.request_of(done)
        assert request.first_frame is not None and request.first_frame.data == PNG
        assert request.last_frame is None
        assert (request.duration_s, request.aspect_ratio, request.seed) == (4, "9:16", 42)
        assert request.negative_prompt == "blur"
        assert fake.cdn_requests == [f"/attachments/{fake.channel_id}/{picture.id}/cat.png"]
        video = await bot.video_message(done)
        assert video.videos[0].data == bot.provider.video
        embed = video.embeds[0]
        assert {
            "Model": "scripted-1",
            "Duration": "4 s",
            "Seed": "42",
            "Input": "image",
        }.items() <= {f["name"]: f["value"] for f in embed["fields"]}.items()


async def test_a_first_and_a_last_frame_both_reach_the_provider(
    store: SqliteStore, tmp_path: Path
) -> None:
    last_png = png_bytes(320, 180, color=(10, 200, 30))
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        first = fake.upload(PNG, "first.png", "image/png")
        last = fake.upload(last_png, "last.png", "image/png")
        asked = await fake.slash(
            "veo", {"prompt": "day turns to night", "image": first, "end_image": last}
        )
        await bot.reply(asked)
        done = await bot.finished(await bot.next_job())

        request = bot.request_of(done)
        assert request.first_frame is not None and request.first_frame.data == PNG
        assert request.last_frame is not None and request.last_frame.data == last_png
        assert "first + last frame" in (await bot.video_message(done)).text()


@pytest.mark.parametrize(
    ("name", "make", "said"),
    [
        (
            "notes.pdf",
            lambda: b"%PDF-1.7 not an image at all" * 10,
            "notes.pdf is not a PNG, JPEG or WebP image",
        ),
        ("huge.png", lambda: PNG + b"\0" * (21 * 1024 * 1024), "images may be at most 20 MB"),
        ("strip.png", lambda: png_bytes(1000, 100), "images must be between 1:4 and 4:1"),
    ],
)
async def test_a_bad_attachment_is_refused_privately_and_charges_nothing(
    store: SqliteStore, tmp_path: Path, name: str, make: Callable[[], bytes], said: str
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        attachment = fake.upload(make(), name, None)
        asked = await fake.slash("veo", {"prompt": "animate this", "image": attachment})

        reply = await bot.reply(asked)
        assert said in reply
        assert asked.callbacks[0]["data"]["flags"] & EPHEMERAL
        assert await bot.jobs() == []
        assert fake.bot_messages_in(fake.channel_id) == []
        assert bot.provider.submits == []
        if name == "huge.png":
            assert fake.cdn_requests == []  # refused on its declared size, not downloaded


async def test_a_prompt_too_long_for_the_model_is_refused_with_the_numbers(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        asked = await bot.fake.slash("veo", {"prompt": "a fox " * 30})

        reply = await bot.reply(asked)
        assert "The prompt is 179 characters long" in reply and "at most 100" in reply
        assert await bot.jobs() == []
