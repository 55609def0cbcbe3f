"""Issue 18 on Discord: a request over the concurrency limit waits with its place on the
card and starts when a slot frees; Cancel on the card, for the requester or an admin, with
its quota outcome on the card."""

from __future__ import annotations

from pathlib import Path

from bot import texts
from bot.models import Job, JobState, QuotaLimits
from storage.sqlite import SqliteStore
from tests.discord.support import (
    RUNNING,
    SUCCEEDED,
    DiscordBot,
    card_refs,
    finish_at_provider,
    running_bot,
)
from tests.fakes._base import sample_mp4
from tests.fakes.discord import MANAGE_GUILD, MEMBER_PERMISSIONS, FakeDiscord, Message
from tests.support import ScriptedProvider, eventually, seed_completions

ONE_AT_A_TIME = QuotaLimits(user_daily_s=1000, user_concurrent=1, workspace_monthly_s=0)


async def card_of(bot: DiscordBot, job: Job) -> Message:
    """The job's status card, once it is posted."""

    async def posted() -> Job | None:
        current = await bot.store.get_job(job.id)
        return current if current is not None and card_refs(current).status_message_id else None

    current = await eventually(posted)
    return bot.fake.messages[int(card_refs(current).status_message_id or 0)]


async def state_of(bot: DiscordBot, job: Job, state: JobState) -> Job:
    async def there() -> Job | None:
        current = await bot.store.get_job(job.id)
        return current if current is not None and current.state is state else None

    return await eventually(there)


async def test_over_the_limit_a_request_waits_with_its_place_on_the_card_then_starts(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider([RUNNING], video=sample_mp4())
    async with running_bot(store, tmp_path, provider=provider, limits=ONE_AT_A_TIME) as bot:
        fake = bot.fake
        await bot.reply(await fake.slash("veo", {"prompt": "a first kite"}))
        first = await bot.started()
        answer = await bot.reply(await fake.slash("veo", {"prompt": "a second kite"}))
        await bot.reply(await fake.slash("veo", {"prompt": "a third kite"}))
        second, third = await bot.next_job(1), await bot.next_job(2)

        assert texts.waits_its_turn() in answer
        assert (second.state, third.state) == (JobState.QUEUED, JobState.QUEUED)
        second_card, third_card = await card_of(bot, second), await card_of(bot, third)
        await fake.wait_for(lambda: "Queued — next in line" in second_card.text())
        await fake.wait_for(lambda: "Queued — 1 ahead of you" in third_card.text())
        assert second_card.button("Cancel")["custom_id"] == f"veo:cancel:{second.id}"
        assert provider.submits == [first.id]

        finish_at_provider(bot, first)
        assert (await bot.finished(first)).state is JobState.DELIVERED
        started = await bot.started(1)
        assert started.id == second.id
        await fake.wait_for(lambda: "Queued — next in line" in third_card.text())
        finish_at_provider(bot, started)
        assert (await bot.finished(second)).state is JobState.DELIVERED
        # A finished card has no Cancel any more.
        await fake.wait_for(lambda: not second_card.components)


async def test_cancel_is_for_the_requester_or_an_admin_and_the_card_says_what_it_cost(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider([RUNNING], video=sample_mp4())
    async with running_bot(store, tmp_path, provider=provider, limits=ONE_AT_A_TIME) as bot:
        fake = bot.fake
        author = fake.add_user("author")
        stranger = fake.add_user("stranger")
        moderator = fake.add_user("moderator", permissions=MEMBER_PERMISSIONS | MANAGE_GUILD)
        await bot.reply(await fake.slash("veo", {"prompt": "a red kite"}, user=author))
        running = await bot.started()
        await bot.reply(await fake.slash("veo", {"prompt": "a blue kite"}, user=author))
        waiting = await bot.next_job(1)
        running_card, waiting_card = await card_of(bot, running), await card_of(bot, waiting)

        refused = await bot.reply(await fake.click(running_card, "Cancel", user=stranger))
        assert refused == (
            f"Only <@{author.id}>, who asked for this video, or an admin can cancel it."
        )
        assert (await bot.store.get_job(running.id)).state.at_provider  # type: ignore[union-attr]

        # The waiting one, by its requester: refunded, and it never reaches the provider.
        said = await bot.reply(await fake.click(waiting_card, "Cancel", user=author))
        assert said == texts.cancelled_refunded(f"<@{author.id}>", 8)
        await fake.wait_for(lambda: "Cancelled" in waiting_card.text())
        assert said in waiting_card.text() and not waiting_card.components
        assert await bot.ledger(waiting) == "refunded"

        # The running one, by an admin: the provider confirms, so refunded too.
        said = await bot.reply(await fake.click(running_card, "Cancel", user=moderator))
        assert said.startswith(f"Cancelled by <@{moderator.id}> — refunded")
        assert provider.cancelled == [running.provider_job_id]
        await fake.wait_for(lambda: said in running_card.text())
        assert await bot.ledger(running) == "refunded"
        assert provider.submits == [running.id]
        thread = bot.thread_of(running)
        assert not [m for m in fake.bot_messages_in(thread) if m.videos]


async def test_a_running_card_says_how_long_the_model_usually_takes(
    store: SqliteStore, tmp_path: Path
) -> None:
    # Quick ones, so that the adaptive polls (which follow the same history) come soon.
    await seed_completions(store, (0.1, 0.2, 0.3, 0.4, 0.5))
    provider = ScriptedProvider([RUNNING], video=sample_mp4())
    async with running_bot(store, tmp_path, provider=provider) as bot:
        await bot.reply(await bot.fake.slash("veo", {"prompt": "a slow tide"}))
        job = await bot.started(5)
        status = await card_of(bot, job)

        await bot.fake.wait_for(lambda: "usually about 1 min" in status.text())
        assert "50%" in status.text()  # the provider's own figure


async def test_a_waiting_request_survives_a_restart_and_keeps_its_one_card(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider([RUNNING], video=sample_mp4())
    async with FakeDiscord() as fake:
        async with running_bot(
            store, tmp_path, fake=fake, provider=provider, limits=ONE_AT_A_TIME
        ) as bot:
            await bot.reply(await fake.slash("veo", {"prompt": "a first lantern"}))
            first = await bot.started()
            await bot.reply(await fake.slash("veo", {"prompt": "a second lantern"}))
            second = await bot.next_job(1)
            waiting_card = await card_of(bot, second)
            await fake.wait_for(lambda: "Queued — next in line" in waiting_card.text())

        provider.readings = [SUCCEEDED]  # what the provider says of jobs submitted from now on
        async with running_bot(
            store, tmp_path, fake=fake, provider=provider, limits=ONE_AT_A_TIME
        ) as bot:
            assert (await bot.store.get_job(second.id)).state is JobState.QUEUED  # type: ignore[union-attr]
            finish_at_provider(bot, first)
            assert (await bot.finished(first)).state is JobState.DELIVERED
            assert (await bot.finished(second)).state is JobState.DELIVERED

        footer = f"veo job {second.id}"
        cards = [
            m
            for m in fake.bot_messages_in(fake.channel_id)
            if any(e.get("footer", {}).get("text") == footer for e in m.embeds)
        ]
        assert cards == [waiting_card] and not waiting_card.components
