"""The other ways in on Slack: the message shortcut, a mention with an image in a thread, and a
sign-in page served instead of the image."""

from __future__ import annotations

import json
from pathlib import Path

from storage.sqlite import SqliteStore
from tests.fakes.slack import BOT_USER_ID, text_value
from tests.slack.support import PNG, card_of, result_of, running_bot


async def test_the_message_shortcut_animates_the_messages_image_into_its_thread(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        logo = fake.add_file(PNG, "logo.png", user="U3")
        original = fake.add_message("C1", "our new logo", user="U3", files=[logo])
        reply = await bot.interact(fake.shortcut_payload(original, user="U5"))
        assert (reply.status, reply.body) == (200, "")

        view = await bot.opened_view()
        assert "logo.png" in json.dumps(view["blocks"])
        assert "image" not in {b.get("block_id") for b in view["blocks"]}
        payload = fake.view_submission_payload(
            view, {"prompt": text_value("the logo spins")}, user="U5"
        )
        assert (await bot.interact(payload)).body == ""
        done = await bot.finished(await bot.next_job())

        first_frame = bot.request_of(done).first_frame
        assert first_frame is not None and first_frame.data == PNG
        assert fake.channel("C1") == [original]  # everything went into its thread
        [card, share, result] = fake.replies("C1", original.ts)
        assert card == card_of(fake, done) and "<@U5>" in card.all_text
        assert [f.data for f in share.files] == [bot.provider.video]
        assert result == result_of(fake, done)


async def test_a_mention_with_an_image_in_a_thread_answers_in_that_thread(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        root = fake.add_message("C2", "ideas for the launch")
        sky = fake.add_file(PNG, "sky.png", user="U4")
        mention = fake.add_message(
            "C2", f"<@{BOT_USER_ID}> make it rain", user="U4", files=[sky], thread_ts=root.ts
        )
        reply = await bot.mention(mention, event_id="Ev01")
        assert reply.status == 200
        done = await bot.finished(await bot.next_job())

        request = bot.request_of(done)
        assert request.prompt == "make it rain"
        assert request.first_frame is not None and request.first_frame.data == PNG
        assert fake.channel("C2") == [root]
        [video] = fake.videos("C2", root.ts)
        assert video.data == bot.provider.video
        assert card_of(fake, done).thread_ts == root.ts


async def test_a_login_page_instead_of_the_image_is_refused_as_not_an_image(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        elsewhere = fake.add_file(PNG, "photo.png", readable=False)
        mention = fake.add_message("C2", f"<@{BOT_USER_ID}> animate", files=[elsewhere])
        await bot.mention(mention, event_id="Ev02")

        [whisper] = await fake.wait_for(lambda: fake.ephemerals)
        assert whisper["text"] == "photo.png is not a PNG, JPEG or WebP image."
        assert (whisper["user"], whisper["thread_ts"]) == ("U1", mention.ts)
        assert await bot.jobs() == [] and bot.provider.submits == []
