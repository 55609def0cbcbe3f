"""Time, restarts and the gateway on Discord: a video outliving the interaction token, restarts
mid-delivery or while the card was being posted, and a gateway reconnect mid-job."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.models import JobState
from bot.refs import DiscordRefs
from storage.sqlite import SqliteStore
from tests.discord.support import RUNNING, card_refs, finish_at_provider, running_bot
from tests.fakes._base import sample_mp4
from tests.fakes.discord import FakeDiscord
from tests.support import ScriptedProvider


async def test_a_video_taking_longer_than_the_interaction_token_still_arrives(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider([RUNNING])
    async with running_bot(store, tmp_path, provider=provider) as bot:
        fake = bot.fake
        await bot.reply(await fake.slash("veo", {"prompt": "a slow sunrise"}))
        job = await bot.started()
        fake.advance(20 * 60)  # the interaction token died 5 minutes ago
        finish_at_provider(bot, job)

        done = await bot.finished(job)
        assert done.state is JobState.DELIVERED
        assert (await bot.video_message(done)).videos
        assert fake.calls("POST", "/webhooks/*") == []  # no follow-up on the dead token


async def test_a_restart_mid_delivery_posts_the_video_once(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider([RUNNING], video=sample_mp4())
    async with FakeDiscord() as fake:
        async with running_bot(store, tmp_path, fake=fake, provider=provider) as bot:
            await bot.reply(await fake.slash("veo", {"prompt": "a comet"}))
            job = await bot.started()
            thread = bot.thread_of(job)
            # Discord stores the video, but the answer never reaches the bot: it dies first.
            held = fake.hold("POST", f"/channels/{thread}/messages")
            finish_at_provider(bot, job)
            await asyncio.wait_for(held.reached.wait(), 10)
            await bot.scheduler.stop(grace_s=0)
        held.release()
        assert (await store.get_job(job.id)).state is JobState.DELIVERING  # type: ignore[union-attr]

        async with running_bot(store, tmp_path, fake=fake, provider=provider) as again:
            done = await again.finished(job)

        assert done.state is JobState.DELIVERED
        videos = [m for m in fake.bot_messages_in(thread) if m.videos]
        assert len(videos) == 1 and done.delivery_refs == DiscordRefs(
            channel_id=str(thread), message_id=str(videos[0].id)
        )
        assert fake.identifies == 2


async def test_a_gateway_reconnect_mid_job_resumes_and_misses_nothing(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider([RUNNING])
    async with running_bot(store, tmp_path, provider=provider) as bot:
        fake = bot.fake
        await bot.reply(await fake.slash("veo", {"prompt": "a tide pool"}))
        job = await bot.started()

        await fake.reconnect()
        asked = await fake.slash("veo", {"prompt": "a second tide pool"})
        assert "Queued" in await bot.reply(asked)
        second = await bot.started(1)
        finish_at_provider(bot, job)
        finish_at_provider(bot, second)
        done = [await bot.finished(job), await bot.finished(second)]

        assert [d.state for d in done] == [JobState.DELIVERED, JobState.DELIVERED]
        assert fake.resumes == 1 and fake.identifies == 1
        assert fake.connections[-1][0] == "/resume"


async def test_a_restart_while_the_card_was_being_posted_uses_that_card(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with FakeDiscord() as fake:
        async with running_bot(store, tmp_path, fake=fake) as bot:
            # Discord shows the card, but the answer never reaches the bot: it dies first.
            held = fake.hold("POST", f"/channels/{fake.channel_id}/messages")
            await bot.reply(await fake.slash("veo", {"prompt": "a paper lantern"}))
            await asyncio.wait_for(held.reached.wait(), 10)
            await bot.scheduler.stop(grace_s=0)
            job = await bot.next_job()
        held.release()
        assert job.origin.refs == DiscordRefs() and job.state is JobState.PENDING

        async with running_bot(store, tmp_path, fake=fake) as again:
            done = await again.finished(job)

        assert done.state is JobState.DELIVERED
        [card] = fake.bot_messages_in(fake.channel_id)
        assert "a paper lantern" in card.text() and "Done" in card.text()
        assert card_refs(done).status_message_id == str(card.id)
        [video] = [m for m in fake.bot_messages_in(card.id) if m.videos]
        assert video.videos[0].filename == f"veo-{job.id}.mp4"
