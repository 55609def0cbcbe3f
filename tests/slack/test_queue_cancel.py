"""Issue 18 on Slack: a request over the concurrency limit waits with its place on the card;
Cancel on the card, for the requester or an admin, with its quota outcome on the card."""

from __future__ import annotations

import json
from pathlib import Path

from adapters.slack._markup import SLACK
from bot import texts
from bot.models import Job, JobState, ProviderJobState, ProviderStatus, QuotaLimits
from bot.refs import SlackRefs
from storage.sqlite import SqliteStore
from tests.fakes._base import sample_mp4
from tests.fakes.slack import FakeSlack
from tests.fakes.slack._model import Message
from tests.slack.support import SlackBot, running_bot
from tests.support import ScriptedProvider, eventually, seed_completions

ONE_AT_A_TIME = QuotaLimits(user_daily_s=1000, user_concurrent=1, workspace_monthly_s=0)
RUNNING = ProviderStatus(ProviderJobState.RUNNING, progress=50)
SUCCEEDED = ProviderStatus(ProviderJobState.SUCCEEDED, video_url="mem://video")


async def card(bot: SlackBot, job: Job) -> Message:
    async def posted() -> Job | None:
        current = await bot.store.get_job(job.id)
        ok = current is not None and SlackRefs.of(current.origin.refs).status_ts
        return current if ok else None

    current = await eventually(posted)
    status_ts = SlackRefs.of(current.origin.refs).status_ts
    assert status_ts is not None
    return bot.fake.message(current.origin.channel_id, status_ts)


def text_of(fake: FakeSlack, message: Message) -> str:
    """What the message says now: its text and its blocks' words."""
    now = fake.message(message.channel, message.ts)
    return now.text + json.dumps(now.blocks, ensure_ascii=False)


async def at(bot: SlackBot, job: Job, state: JobState) -> Job:
    async def there() -> Job | None:
        current = await bot.store.get_job(job.id)
        return current if current is not None and current.state is state else None

    return await eventually(there)


async def test_over_the_limit_a_request_waits_then_starts_and_cancel_refunds(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider([RUNNING], video=sample_mp4())
    async with running_bot(store, tmp_path, provider=provider, limits=ONE_AT_A_TIME) as bot:
        fake = bot.fake
        await bot.command("a first heron")
        first = await at(bot, await bot.next_job(), JobState.RUNNING)
        await bot.command("a second heron")
        await bot.command("a third heron")
        second, third = await bot.next_job(1), await bot.next_job(2)
        assert (second.state, third.state) == (JobState.QUEUED, JobState.QUEUED)
        second_card, third_card = await card(bot, second), await card(bot, third)
        await fake.wait_for(lambda: "Queued — next in line" in text_of(fake, second_card))
        await fake.wait_for(lambda: "Queued — 1 ahead of you" in text_of(fake, third_card))

        # Someone else may not cancel it; its requester may: refunded, and it moves the
        # one behind it up.
        reply = await bot.interact(fake.block_action_payload(second_card, "veo_cancel", user="U2"))
        assert (reply.status, reply.body) == (200, "")
        [refusal] = await fake.wait_for(lambda: fake.responses)
        assert refusal["text"] == texts.cancel_refused("U1", SLACK)
        await bot.interact(fake.block_action_payload(second_card, "veo_cancel", user="U1"))
        [_, answer] = await fake.wait_for(lambda: fake.responses[1:] and fake.responses)
        assert answer["text"] == texts.cancelled_refunded("<@U1>", 8)
        await fake.wait_for(lambda: "Cancelled by <@U1> — refunded" in text_of(fake, second_card))
        assert await bot.ledger(second) == "refunded"
        assert not any(
            b.get("type") == "actions" for b in fake.message("C1", second_card.ts).blocks
        )
        await fake.wait_for(lambda: "Queued — next in line" in text_of(fake, third_card))

        # The running one, by an admin: the provider confirms, so refunded; the third starts.
        await bot.interact(
            fake.block_action_payload(await card(bot, first), "veo_cancel", user="UADMIN")
        )
        await at(bot, first, JobState.CANCELLED)
        assert provider.cancelled == [first.provider_job_id]
        started = await at(bot, third, JobState.RUNNING)
        assert started.provider_job_id is not None
        provider.jobs[started.provider_job_id].readings = [SUCCEEDED]
        assert (await bot.finished(third)).state is JobState.DELIVERED
        assert second.id not in provider.submits


async def test_a_running_card_says_how_long_the_model_usually_takes(
    store: SqliteStore, tmp_path: Path
) -> None:
    # Quick ones, so that the adaptive polls (which follow the same history) come soon.
    await seed_completions(store, (0.1, 0.2, 0.3, 0.4, 0.5))
    provider = ScriptedProvider([RUNNING], video=sample_mp4())
    async with running_bot(store, tmp_path, provider=provider) as bot:
        await bot.command("a slow tide")
        job = await at(bot, await bot.next_job(5), JobState.RUNNING)
        status = await card(bot, job)

        await bot.fake.wait_for(lambda: "usually about 1 min" in text_of(bot.fake, status))
        assert "50%" in text_of(bot.fake, status)  # the provider's own figure
