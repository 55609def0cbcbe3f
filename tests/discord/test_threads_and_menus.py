"""Where things go on Discord: /veo inside a thread, "Animate with Veo" on a message, and the
autocomplete of the form's options."""

from __future__ import annotations

import contextlib
from pathlib import Path

from storage.sqlite import SqliteStore
from tests.discord.support import PNG, running_bot
from tests.fakes.discord import FakeDiscord


async def test_veo_inside_a_thread_keeps_everything_in_that_thread(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        fake = await stack.enter_async_context(FakeDiscord())
        ideas = fake.add_thread("ideas")
        bot = await stack.enter_async_context(running_bot(store, tmp_path, fake=fake))

        await bot.reply(await fake.slash("veo", {"prompt": "a lighthouse"}, channel_id=ideas))
        done = await bot.finished(await bot.next_job())

        assert fake.bot_messages_in(fake.channel_id) == []
        card, video = fake.bot_messages_in(ideas)
        assert "a lighthouse" in card.text() and video.videos
        assert len(fake.threads()) == 1
        assert done.origin.thread_id == str(ideas)


async def test_animate_with_veo_on_a_message_puts_the_video_in_that_messages_thread(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        artist = fake.add_user("artist")
        picture = fake.upload(PNG, "harbour.png", "image/png")
        post = fake.post_as(artist, "my harbour sketch", attachments=[picture])

        opened = await fake.message_command("Animate with Veo", post)
        await fake.wait_for(lambda: opened.callbacks)
        assert opened.modal is not None and opened.modal["title"] == "Animate with Veo"
        submitted = await fake.submit_modal(
            opened, {"prompt": "boats bob on the water", "duration": "4", "seed": "9"}
        )
        assert "Queued" in await bot.reply(submitted)
        done = await bot.finished(await bot.next_job())

        request = bot.request_of(done)
        assert request.first_frame is not None and request.first_frame.data == PNG
        assert (request.prompt, request.duration_s, request.seed) == (
            "boats bob on the water",
            4,
            9,
        )
        [thread] = fake.threads()
        assert int(thread["id"]) == post.id  # opened on the artist's message
        card, video = fake.bot_messages_in(post.id)
        assert "boats bob on the water" in card.text() and video.videos


async def test_animate_with_veo_on_a_message_without_an_image_says_so(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        post = fake.post_as(fake.owner, "just words")
        asked = await fake.message_command("Animate with Veo", post)

        assert "That message holds no image" in await bot.reply(asked)
        assert await bot.jobs() == []


async def test_autocomplete_offers_the_durations_of_the_chosen_model(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        durations = await fake.autocomplete(
            "veo", "duration", "", {"prompt": "x", "model": "scripted/scripted-1"}
        )
        assert [c["value"] for c in durations] == [4, 6, 8]
        models = await fake.autocomplete("veo", "model", "scrip", {"prompt": "x"})
        assert [c["value"] for c in models] == ["scripted/scripted-1"]
        ratios = await fake.autocomplete(
            "veo", "aspect_ratio", "9", {"prompt": "x", "model": "scripted/scripted-1"}
        )
        assert [c["value"] for c in ratios] == ["9:16"]
