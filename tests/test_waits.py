"""Nobody outside can park a job forever (issue 12, item 14): every `Retry-After`, from a
provider's 429 or a chat platform's rate limit, is read safely (`inf`, `nan`, negative, words,
HTTP dates) and capped at 15 minutes, and never past the job's deadline.

Real provider adapters against their HTTP fakes, and the Slack and Discord adapters against
theirs, on a clock the test moves forward (`SkippingClock`): the store's `due_at` shows
what the bot decided to wait, and skipping that much shows the job then goes on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.providers.useapi import RATE_LIMIT_BACKOFF_S
from bot.models import Job, JobState, ProviderJobState, ProviderStatus
from bot.refs import SlackRefs
from bot.retry_after import MAX_WAIT_S
from storage.sqlite import SqliteStore
from tests.discord.support import running_bot as discord_bot
from tests.fakes._base import Fault, sample_mp4
from tests.faults.support import BY_NAME, FAMILIES, Bot, Family, provider_bot
from tests.slack.support import running_bot as slack_bot
from tests.support import ScriptedProvider, SkippingClock, eventually

RUNNING = ProviderStatus(ProviderJobState.RUNNING, progress=50)
SUCCEEDED = ProviderStatus(ProviderJobState.SUCCEEDED, video_url="mem://video")
GATEWAY = next(f for f in FAMILIES if f.name == "gateway")
FAR_FUTURE = "Fri, 31 Dec 9999 23:59:59 GMT"


async def parked(bot: Bot, job: Job, wait_s: float | None = None) -> Job:
    """The job once a rate limit made the bot put it off by `wait_s` (told apart from a
    claim's lease, which moves `due_at` without `updated_at`), or until its deadline."""

    async def check() -> Job | None:
        current = await bot.service.get_job(job.id)
        assert current is not None and not current.state.is_terminal, current
        if current.error_code != "provider_rate_limited" or current.due_at is None:
            return None
        later = current.due_at > bot.clock.now() + 0.5
        if wait_s is None:
            put_off = current.due_at == current.deadline_at
        else:
            put_off = abs(current.due_at - current.updated_at - wait_s) < 0.01
        return current if later and put_off else None

    return await eventually(check)


@BY_NAME
async def test_retry_after_inf_does_not_hold_a_job(
    store: SqliteStore, tmp_path: Path, family: Family
) -> None:
    async with provider_bot(store, tmp_path, family) as bot:
        header = {"Retry-After": "inf"}
        bot.fake.inject(
            Fault(family.status, 429, family.rate_limited, family.status_method, header)
        )
        job = await bot.submit()

        # useapi's own pause for a 429 that says nothing readable, and Replicate's "resets in
        # ~30s" from its body; the others' is the scheduler's backoff, too short to see here.
        own_pause = {"useapi": RATE_LIMIT_BACKOFF_S, "replicate": 30.0}.get(family.name)
        if own_pause is not None:
            await parked(bot, job, own_pause)
            bot.clock.skip(own_pause)
        done = await asyncio.wait_for(bot.service.wait_until_done(job.id), 10)

        await bot.assert_delivered_once(done)


@pytest.mark.parametrize("value", ["nan", "-30", "soon", "1e999", ""])
async def test_an_unreadable_retry_after_falls_back_to_the_bots_own_backoff(
    store: SqliteStore, tmp_path: Path, value: str
) -> None:
    async with provider_bot(store, tmp_path, GATEWAY) as bot:
        header = {"Retry-After": value}
        bot.fake.inject(Fault(GATEWAY.status, 429, GATEWAY.rate_limited, "GET", header, times=2))

        done = await bot.run()

        await bot.assert_delivered_once(done)


@pytest.mark.parametrize("value", ["1e12", "86400", FAR_FUTURE])
async def test_a_huge_retry_after_is_waited_fifteen_minutes_at_most(
    store: SqliteStore, tmp_path: Path, value: str
) -> None:
    async with provider_bot(store, tmp_path, GATEWAY) as bot:
        header = {"Retry-After": value}
        bot.fake.inject(Fault(GATEWAY.status, 429, GATEWAY.rate_limited, "GET", header))
        job = await bot.submit()

        await parked(bot, job, MAX_WAIT_S)
        polls = len(bot.fake.received("GET", GATEWAY.status))
        bot.clock.skip(MAX_WAIT_S)
        done = await asyncio.wait_for(bot.service.wait_until_done(job.id), 10)

        await bot.assert_delivered_once(done)
        assert len(bot.fake.received("GET", GATEWAY.status)) > polls


async def test_a_retry_after_beyond_the_deadline_times_the_job_out_on_time(
    store: SqliteStore, tmp_path: Path
) -> None:
    # The deadline (10 minutes) comes before the cap (15): the job waits until the deadline.
    async with provider_bot(store, tmp_path, GATEWAY, job_timeout_s=600) as bot:
        header = {"Retry-After": "1e12"}
        bot.fake.inject(Fault(GATEWAY.status, 429, GATEWAY.rate_limited, "GET", header, times=1000))
        job = await bot.submit()

        await parked(bot, job)  # until the deadline, 10 minutes after it was accepted
        bot.clock.skip(600)
        done = await asyncio.wait_for(bot.service.wait_until_done(job.id), 10)

        assert done.state is JobState.TIMED_OUT
        assert done.error_message == "The video took longer than 10 minutes, so it was stopped."
        [row] = await bot.store.ledger([job.id])
        assert row["status"] == "refunded"
        assert "took longer than 10 minutes" in bot.surface.of(job.id, "failure")[0].text


@pytest.mark.parametrize(("value", "wait_s"), [("inf", None), ("1e12", MAX_WAIT_S)])
async def test_a_slack_rate_limit_on_the_upload_cannot_hold_a_delivery_forever(
    store: SqliteStore, tmp_path: Path, value: str, wait_s: float | None
) -> None:
    clock = SkippingClock()
    async with slack_bot(store, tmp_path, clock=clock) as bot:
        fake = bot.fake
        fake.inject(
            Fault(
                "/api/files.getUploadURLExternal",
                status=429,
                body={"ok": False, "error": "ratelimited"},
                headers={"Retry-After": value},
            )
        )
        await bot.command("a fox")
        job = await bot.next_job()

        if wait_s is not None:

            async def waiting() -> Job | None:
                current = await bot.store.get_job(job.id)
                assert current is not None
                late = current.due_at is not None and current.due_at > clock.now() + 1
                return current if late and current.error_code == "delivery_retry" else None

            held = await eventually(waiting)
            assert held.due_at is not None
            assert held.due_at - held.updated_at == pytest.approx(wait_s, abs=0.01)
            clock.skip(wait_s)
        done = await bot.finished(job)

        assert done.state is JobState.DELIVERED
        asked = [r for r in fake.requests if r.path == "/api/files.getUploadURLExternal"]
        assert len(asked) == 2
        assert len(fake.videos("C1", SlackRefs.of(done.origin.refs).status_ts)) == 1


async def test_a_long_discord_rate_limit_is_honoured_up_to_the_cap(
    store: SqliteStore, tmp_path: Path
) -> None:
    clock = SkippingClock()
    provider = ScriptedProvider([RUNNING], video=sample_mp4())
    async with discord_bot(store, tmp_path, provider=provider, clock=clock) as bot:
        fake = bot.fake
        await bot.reply(await fake.slash("veo", {"prompt": "a kite"}))
        job = await bot.started()
        thread = bot.thread_of(job)
        # Longer than discord.py waits by itself (30 s): it raises, and the job waits.
        fake.rate_limit("POST", f"/channels/{thread}/messages", retry_after=1e9)
        assert job.provider_job_id is not None
        provider.jobs[job.provider_job_id].readings = [SUCCEEDED]

        async def waiting() -> Job | None:
            current = await bot.store.get_job(job.id)
            assert current is not None
            late = current.due_at is not None and current.due_at > clock.now() + 1
            return current if late and current.error_code == "delivery_retry" else None

        held = await eventually(waiting)
        assert held.due_at is not None
        assert held.due_at - held.updated_at == pytest.approx(MAX_WAIT_S, abs=0.01)
        clock.skip(MAX_WAIT_S)
        done = await bot.finished(job)

        assert done.state is JobState.DELIVERED
        posts = fake.calls("POST", f"/channels/{thread}/messages")
        assert [c.status for c in posts] == [429, 200]
        assert len([m for m in fake.bot_messages_in(thread) if m.videos]) == 1
