"""Attached images are bounded before a pixel is decoded: at most 40 megapixels and 8,192
pixels a side (an 86 KB PNG may describe 88 megapixels), no animations, and judged as people
see them (EXIF orientation). Through every way an image comes in: a Discord attachment from
the fake CDN, a Slack file, and `veo-bot try --image`."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from bot.errors import InvalidRequest
from bot.media import load_image
from storage.sqlite import SqliteStore
from tests.discord.support import discord_endpoints  # noqa: F401 - its autouse fixture
from tests.discord.support import running_bot as discord_bot
from tests.fakes.discord import EPHEMERAL
from tests.fakes.slack import BOT_USER_ID
from tests.slack.support import running_bot as slack_bot
from tests.support import animated_png, palette_png, run_cli, turned_jpeg

BOMB_SAID = "is 9400x9400 pixels; images may be at most 8192 pixels on each side."


def bomb() -> bytes:
    """The 86 KB palette PNG of issue 12: 9,400 x 9,400 pixels, ~1.3 GB once rendered."""
    return palette_png(9400, 9400)


def animated_webp() -> bytes:
    frames = [Image.new("RGB", (320, 180), (60 * i, 90, 30)) for i in range(4)]
    buf = io.BytesIO()
    frames[0].save(buf, format="WEBP", save_all=True, append_images=frames[1:])
    return buf.getvalue()


def webp_claiming(width: int, height: int) -> bytes:
    """A small real WebP whose extended header claims a `width` x `height` canvas, which
    Pillow's reader would allocate (twice) as it opened the file."""
    buf = io.BytesIO()
    Image.new("RGB", (320, 180), (10, 20, 30)).save(buf, format="WEBP", exif=Image.Exif())
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"VP8X"
    data[24:27] = (width - 1).to_bytes(3, "little")
    data[27:30] = (height - 1).to_bytes(3, "little")
    return bytes(data)


# --- the rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (bomb, BOMB_SAID),
        (lambda: palette_png(9000, 2500), "is 9000x2500 pixels; images may be at most 8192"),
        (lambda: palette_png(8000, 5100), "(40.8 megapixels); images may have at most 40"),
        (lambda: webp_claiming(12000, 6000), "is 12000x6000 pixels; images may be at most"),
        (animated_png, "is an animated image (3 frames); attach a single still picture."),
        (animated_webp, "is an animated image (4 frames); attach a single still picture."),
        # Stored 400 x 1800 but shown turned a quarter: people see 1800 x 400, and so does
        # the message.
        (lambda: turned_jpeg(400, 1800), "is 1800x400, a shape of 4.50:1; images must be"),
    ],
    ids=["bomb", "side", "megapixels", "webp header", "apng", "animated webp", "turned"],
)
def test_images_past_the_bounds_are_refused_in_plain_words(
    make: Callable[[], bytes], said: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        load_image(make(), filename="picture")
    assert said in refused.value.user_message
    assert refused.value.user_message.startswith("picture is")


def test_the_largest_accepted_picture_and_a_turned_photo_are_described_as_shown() -> None:
    assert (load_image(palette_png(8192, 4882)).width, 4882) == (8192, 4882)
    turned = load_image(turned_jpeg(600, 300))  # stored landscape, shown portrait
    assert (turned.width, turned.height) == (300, 600)
    plain = load_image(turned_jpeg(600, 300, orientation=1))
    assert (plain.width, plain.height) == (600, 300)


# --- where images come in -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (bomb, BOMB_SAID),
        (animated_png, "is an animated image (3 frames)"),
        (lambda: turned_jpeg(400, 1800), "is 1800x400, a shape of 4.50:1"),
    ],
    ids=["bomb", "apng", "turned"],
)
async def test_discord_attachments_past_the_bounds_are_refused_privately(
    store: SqliteStore, tmp_path: Path, make: Callable[[], bytes], said: str
) -> None:
    async with discord_bot(store, tmp_path) as bot:
        fake = bot.fake
        attachment = fake.upload(make(), "picture.png", "image/png")
        asked = await fake.slash("veo", {"prompt": "animate this", "image": attachment})

        reply = await bot.reply(asked)
        assert f"picture.png {said}" in reply
        assert asked.callbacks[0]["data"]["flags"] & EPHEMERAL
        assert await bot.jobs() == [] and bot.provider.submits == []
        assert fake.bot_messages_in(fake.channel_id) == []


async def test_a_turned_photo_from_discord_reaches_the_provider_as_shown(
    store: SqliteStore, tmp_path: Path
) -> None:
    photo = turned_jpeg(600, 300)
    async with discord_bot(store, tmp_path) as bot:
        attachment = bot.fake.upload(photo, "portrait.jpg", "image/jpeg")
        await bot.reply(await bot.fake.slash("veo", {"prompt": "she smiles", "image": attachment}))
        done = await bot.finished(await bot.next_job())

        request = bot.request_of(done)
        assert request.first_frame is not None and request.first_frame.data == photo
        assert (request.first_frame.width, request.first_frame.height) == (300, 600)


async def test_a_slack_file_past_the_bounds_is_refused_to_the_person_alone(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with slack_bot(store, tmp_path) as bot:
        fake = bot.fake
        picture = fake.add_file(bomb(), "picture.png")
        mention = fake.add_message("C2", f"<@{BOT_USER_ID}> animate", files=[picture])
        await bot.mention(mention, event_id="Ev77")

        [whisper] = await fake.wait_for(lambda: fake.ephemerals)
        assert whisper["text"] == f"picture.png {BOMB_SAID}"
        assert whisper["user"] == "U1"
        assert await bot.jobs() == [] and bot.provider.submits == []


async def test_an_animated_slack_file_is_refused_to_the_person_alone(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with slack_bot(store, tmp_path) as bot:
        fake = bot.fake
        picture = fake.add_file(animated_webp(), "loop.webp", mimetype="image/webp")
        mention = fake.add_message("C2", f"<@{BOT_USER_ID}> animate", files=[picture])
        await bot.mention(mention, event_id="Ev78")

        [whisper] = await fake.wait_for(lambda: fake.ephemerals)
        assert "loop.webp is an animated image (4 frames)" in whisper["text"]
        assert await bot.jobs() == []


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (bomb, BOMB_SAID),
        (animated_png, "is an animated image (3 frames); attach a single still picture."),
    ],
    ids=["bomb", "apng"],
)
async def test_cli_images_past_the_bounds_are_one_clear_line_and_charge_nothing(
    tmp_path: Path, make: Callable[[], bytes], said: str
) -> None:
    (tmp_path / "picture.png").write_bytes(make())
    result = await asyncio.to_thread(
        run_cli, tmp_path, "try", "a kite", "--model", "local-draft", "--image", "picture.png"
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"veo-bot: picture.png {said}"]
    assert "no jobs yet" in (await asyncio.to_thread(run_cli, tmp_path, "jobs")).stdout
