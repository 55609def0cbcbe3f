"""A person's own videos on Discord: `/veo-history` (paged, private, with Post to channel,
Re-roll, Use these settings and Info), Info under a posted video, and private results sent by
DM with nothing of them in the channel."""

from __future__ import annotations

from pathlib import Path

from bot.models import Job, JobState
from storage.sqlite import SqliteStore
from tests.discord.support import RUNNING, DiscordBot, finish_at_provider, running_bot
from tests.fakes._base import sample_mp4
from tests.fakes.discord import Message
from tests.support import ScriptedProvider, SkippingClock


def _last_reply(replies: list[Message]) -> Message:
    return [m for m in replies if m.components or m.content][-1]


async def test_history_is_private_paged_and_acts_on_each_video(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        stranger = fake.add_user("stranger")
        for index in range(5):
            await bot.reply(await fake.slash("veo", {"prompt": f"boat number {index}", "seed": 3}))
            await bot.finished(await bot.next_job(index))
        await bot.reply(await fake.slash("veo", {"prompt": "someone else's"}, user=stranger))
        jobs = await bot.jobs()

        asked = await fake.slash("veo-history")
        text = await bot.reply(asked)
        page = _last_reply(asked.replies)
        assert page.ephemeral
        assert text.startswith("Your recent videos on this server (only you can see this):")
        # Newest first, four to a page; not the stranger's.
        for index in (4, 3, 2, 1):
            assert f"boat number {index}" in text
        assert "boat number 0" not in text and "someone else's" not in text
        assert f"`{jobs[4].id}` “boat number 4” · scripted-1 · 8 s · done · 8 s of quota" in text
        assert page.custom_ids()[:4] == [
            f"veo:post:{jobs[4].id}",
            f"veo:reroll:{jobs[4].id}",
            f"veo:settings:{jobs[4].id}",
            f"veo:info:{jobs[4].id}",
        ]

        older = await fake.click(page, "Older")
        older_text = await bot.reply(older)
        assert "boat number 0" in older_text and "boat number 1" not in older_text
        assert not any(c.startswith("veo:older:") for c in _last_reply(older.replies).custom_ids())

        # Post to channel: the newest video, shared where the history was asked for.
        before = len(fake.bot_messages_in(fake.channel_id))
        posted = await fake.click(page, "Post to channel")
        assert await bot.reply(posted) == "Posted."
        shared = fake.bot_messages_in(fake.channel_id)[before:]
        assert len(shared) == 1
        assert f"<@{fake.owner.id}> shares a video: “boat number 4”" in shared[0].text()
        assert str(jobs[4].delivery_refs.message_id) in shared[0].content  # type: ignore[union-attr]

        # Someone else cannot act on the person's history.
        refused = await fake.click(page, "Post to channel", user=stranger)
        assert await bot.reply(refused) == "That is not one of your videos."

        info = await fake.click(page, "Info")
        info_text = await bot.reply(info)
        assert f"Job `{jobs[4].id}`" in info_text
        assert "Model: scripted/scripted-1" in info_text and "Seed: 3" in info_text
        assert f"Provider job id: `{jobs[4].provider_job_id}`" in info_text

        # Use these settings: the /veo form, filled in; sent back, a new job with them.
        form = await fake.click(page, "Use these settings")
        modal = await fake.wait_for(lambda: form.modal)
        labels = [c["component"] for c in modal["components"]]
        assert labels[0]["value"] == "boat number 4"
        assert labels[4]["value"] == "3"
        submitted = await fake.submit_modal(
            form, {"prompt": "boat number 4, at night", "seed": "3", "duration": "8"}
        )
        assert "Queued as job" in await bot.reply(submitted)
        again = await bot.finished(await bot.next_job(6))
        assert again.request.prompt == "boat number 4, at night"
        assert again.request.seed == 3


async def test_history_when_there_is_nothing_yet(store: SqliteStore, tmp_path: Path) -> None:
    async with running_bot(store, tmp_path) as bot:
        asked = await bot.fake.slash("veo-history")
        assert await bot.reply(asked) == "You have not asked for any videos on this server yet."


async def test_info_under_a_video_shows_its_parameters_privately(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        await bot.reply(
            await fake.slash(
                "veo", {"prompt": "a kite", "seed": 11, "negative_prompt": "no clouds"}
            )
        )
        job = await bot.finished(await bot.next_job())
        video = await bot.video_message(job)
        colleague = fake.add_user("colleague")

        info = await fake.click(video, "Info", user=colleague)
        text = await bot.reply(info)
        assert all(m.ephemeral for m in info.replies)
        assert text.splitlines() == [
            f"Job `{job.id}`",
            "Model: scripted/scripted-1",
            "Seed: 11",
            "Duration: 8 s",
            f"Aspect ratio: {job.request.aspect_ratio}",
            "Negative prompt: no clouds",
            f"Provider job id: `{job.provider_job_id}`",
        ]


def _no_trace_in_public(bot: DiscordBot, job: Job) -> None:
    """The card, the thread and everything in them keep the prompt and video to themselves."""
    fake = bot.fake
    public = fake.bot_messages_in(fake.channel_id) + fake.bot_messages_in(bot.thread_of(job))
    assert public and all("secret garden" not in m.text() for m in public)
    assert not any(m.videos for m in public)
    assert [t["name"] for t in fake.threads()] == ["Private video"]
    assert f"sent to <@{fake.owner.id}> privately" in public[0].text()


async def test_a_private_result_answers_the_interaction_ephemerally_while_its_token_lives(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        asked = await fake.slash("veo", {"prompt": "my secret garden", "private": True})
        assert "the video will be sent to you alone" in await bot.reply(asked)
        job = await bot.finished(await bot.next_job())
        assert job.state is JobState.DELIVERED and job.request.private

        sent = await fake.wait_for(lambda: next((m for m in asked.followups if m.videos), None))
        assert sent.ephemeral and sent.videos[0].filename == f"veo-{job.id}.mp4"
        assert "Your private video is ready" in sent.text() and "my secret garden" in sent.text()
        assert fake.dm_of(fake.owner) is None
        _no_trace_in_public(bot, job)
        mine = await fake.click(sent, "Info")
        assert "Seed:" in await bot.reply(mine)

        # Its requester may still share it, from their history: the kept file is posted.
        asked = await fake.slash("veo-history")
        await bot.reply(asked)
        posted = await fake.click(_last_reply(asked.replies), "Post to channel")
        assert await bot.reply(posted) == "Posted."
        [shared] = [m for m in fake.bot_messages_in(fake.channel_id) if m.videos]
        assert shared.videos[0].filename == f"veo-{job.id}.mp4"
        assert "shares a video: “my secret garden”" in shared.text()


async def test_a_private_result_goes_by_dm_once_the_interaction_token_is_gone(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider([RUNNING], video=sample_mp4())
    clock = SkippingClock()
    async with running_bot(
        store, tmp_path, provider=provider, clock=clock, job_timeout_s=3600
    ) as bot:
        fake = bot.fake
        asked = await fake.slash("veo", {"prompt": "my secret garden", "private": True})
        await bot.reply(asked)
        started = await bot.started()
        # The render took longer than the interaction token lives.
        fake.advance(16 * 60)
        clock.skip(16 * 60)
        finish_at_provider(bot, started)
        job = await bot.finished(started)
        assert job.state is JobState.DELIVERED

        assert not any(m.videos for m in asked.followups)
        dm = fake.dm_of(fake.owner)
        assert dm is not None
        [sent] = fake.bot_messages_in(dm)
        assert sent.videos and sent.videos[0].filename == f"veo-{job.id}.mp4"
        assert "Your private video is ready" in sent.text()
        assert "my secret garden" in sent.text()
        _no_trace_in_public(bot, job)
        # After a crash between sending and recording it, it is found in the DM, not resent.
        found = await bot.adapter.surface.find_delivery(job)
        assert found is not None and found.stored() == {
            "dm_channel": str(dm),
            "message": str(sent.id),
        }

        # Info on it is for its requester alone.
        stranger = fake.add_user("stranger")
        refused = await fake.click(sent, "Info", user=stranger)
        assert await bot.reply(refused) == (
            "Only the person who asked for this private video can see its details."
        )
        mine = await fake.click(sent, "Info")
        assert "Seed:" in await bot.reply(mine)
