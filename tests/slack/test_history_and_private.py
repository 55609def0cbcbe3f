"""A person's own videos on Slack: `/veo history` (private, paged, with Post to channel,
Re-roll, Use these settings and Info), Info under a posted video, and private results sent by
DM (upload v2 into the conversation `conversations.open` gives) with nothing in the channel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.models import JobState
from storage.sqlite import SqliteStore
from tests.fakes.slack import FakeSlack, Message, checkbox_value, text_value
from tests.slack.support import SlackBot, card_of, result_of, running_bot


def as_message(response: dict[str, Any]) -> Message:
    """An ephemeral answer as the person sees it in the channel, to click its buttons."""
    return Message(
        channel="C1", ts="1.000001", user="UBOT", text=response["text"], blocks=response["blocks"]
    )


def click(
    fake: FakeSlack, response: dict[str, Any], action_id: str, *, user: str = "U1"
) -> dict[str, Any]:
    payload = fake.block_action_payload(as_message(response), action_id, user=user)
    payload["container"]["is_ephemeral"] = True
    return payload


async def answer(bot: SlackBot, count: int) -> dict[str, Any]:
    """The `count`-th private answer through a response_url."""
    fake = bot.fake
    return await fake.wait_for(
        lambda: fake.responses[count - 1] if len(fake.responses) >= count else None
    )


async def test_history_is_private_paged_and_acts_on_each_video(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        for index in range(6):
            await bot.command(f"kite number {index}")
            await bot.finished(await bot.next_job(index))
        await bot.command("not mine", user="U2")
        await bot.next_job(6)
        jobs = sorted(
            (j for j in await bot.jobs() if j.origin.user_id == "U1"), key=lambda j: j.created_at
        )

        await bot.command("history")
        page = await answer(bot, 1)
        assert page["response_type"] == "ephemeral"
        assert page["text"] == "Your recent videos in this workspace (only you can see this):"
        shown = str(page["blocks"])
        for index in (5, 4, 3, 2, 1):
            assert f"kite number {index}" in shown
        assert "kite number 0" not in shown and "not mine" not in shown
        assert f"`{jobs[5].id}` “kite number 5” · scripted-1 · 8 s · done · 8 s of quota" in shown

        await bot.interact(click(fake, page, "veo_older"))
        older = await answer(bot, 2)
        assert "kite number 0" in str(older["blocks"]) and "kite number 1" not in str(
            older["blocks"]
        )

        info_answer = click(fake, page, "veo_info")
        await bot.interact(info_answer)
        info = await answer(bot, 3)
        assert info["text"].splitlines()[:3] == [
            f"Job `{jobs[5].id}`",
            "Model: scripted/scripted-1",
            f"Seed: {jobs[5].request.seed}",
        ]

        # Post to channel: a link to the message that holds the video, in the channel.
        before = len(fake.bot_messages("C1"))
        await bot.interact(click(fake, page, "veo_post"))
        assert (await answer(bot, 4))["text"] == "Posted."
        [shared] = fake.bot_messages("C1")[before:]
        assert shared.text.startswith("<@U1> shares a video: “kite number 5”")
        result_ts = result_of(fake, jobs[5]).ts.replace(".", "")
        assert f"https://slack.com/archives/C1/p{result_ts}" in shared.text

        await bot.interact(click(fake, page, "veo_post", user="U2"))
        assert (await answer(bot, 5))["text"] == "That is not one of your videos."

        # Use these settings: the form, filled in with the job's settings.
        await bot.interact(click(fake, page, "veo_settings"))
        view = await bot.opened_view()
        values = {block.get("block_id"): block.get("element", {}) for block in view["blocks"]}
        assert values["prompt"]["initial_value"] == "kite number 5"
        assert values["model"]["initial_option"]["value"] == "scripted/scripted-1"
        assert values["duration"]["initial_option"]["value"] == "8"


async def test_history_when_there_is_nothing_yet(store: SqliteStore, tmp_path: Path) -> None:
    async with running_bot(store, tmp_path) as bot:
        await bot.command("history")
        assert (await answer(bot, 1))["text"] == (
            "You have not asked for any videos in this workspace yet."
        )


async def test_info_under_a_video_answers_privately(store: SqliteStore, tmp_path: Path) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        await bot.command("a red kite")
        job = await bot.finished(await bot.next_job())
        await bot.interact(fake.block_action_payload(result_of(fake, job), "veo_info", user="U2"))
        info = await answer(bot, 1)
        assert info["response_type"] == "ephemeral"
        assert info["text"].splitlines()[-1] == f"Provider job id: `{job.provider_job_id}`"


async def test_a_private_result_goes_by_dm_and_the_channel_sees_nothing_of_it(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        await bot.command("")
        view = await bot.opened_view()
        answers = {"prompt": text_value("my secret garden"), "private": checkbox_value("on")}
        assert (await bot.interact(fake.view_submission_payload(view, answers))).body == ""
        job = await bot.finished(await bot.next_job())
        assert job.state is JobState.DELIVERED and job.request.private

        assert fake.calls_to("conversations.open") == [{"users": "U1"}]
        dm = fake.calls_to("files.completeUploadExternal")[-1]["channel_id"]
        assert dm != "C1"
        [video] = fake.videos(dm)
        assert video.name == f"veo-{job.id}.mp4"
        channel = fake.channel("C1")
        everything = " ".join(m.all_text for m in channel) + " ".join(
            m.all_text for m in fake.thread("C1", card_of(fake, job).ts)
        )
        assert "secret garden" not in everything
        assert fake.videos("C1") == [] and fake.videos("C1", card_of(fake, job).ts) == []
        assert "<@U1> asked for a private video." in card_of(fake, job).all_text
        assert "sent to <@U1> privately" in card_of(fake, job).all_text
        # After a crash between sending and recording it, it is found in the DM, not resent.
        found = await bot.adapter.surface.find_delivery(job)
        assert found is not None and found.stored() == {"dm_channel": dm, "file_id": video.id}

        # Info on it through /veo history is for its requester alone.
        await bot.command("history")
        page = await answer(bot, 1)
        await bot.interact(click(fake, page, "veo_info", user="U2"))
        assert (await answer(bot, 2))["text"] == (
            "Only the person who asked for this private video can see its details."
        )

        # Its requester may still share it from their history: the kept file, uploaded.
        await bot.interact(click(fake, page, "veo_post"))
        assert (await answer(bot, 3))["text"] == "Posted."
        [shared] = fake.videos("C1")
        assert shared.name == f"veo-{job.id}.mp4"
        upload = fake.calls_to("files.completeUploadExternal")[-1]
        assert upload["channel_id"] == "C1"
        assert "<@U1> shares a video: “my secret garden”" in upload["initial_comment"]
