"""`/veo count:N` on Discord (issue 18, variants): N takes, one card, one message with N
videos and a Re-roll per take; takes that fail named and refunded; refusals that change
nothing."""

from __future__ import annotations

from pathlib import Path

from bot.models import (
    GenerationRequest,
    Job,
    JobState,
    ProviderJobState,
    ProviderStatus,
    QuotaLimits,
)
from storage.sqlite import SqliteStore
from tests.discord.support import running_bot
from tests.fakes._base import sample_mp4
from tests.support import ScriptedJob, ScriptedProvider


class FailsOneSeed(ScriptedProvider):
    """Makes every video but the one asked for with `failing_seed`."""

    def __init__(self, failing_seed: int) -> None:
        super().__init__(video=sample_mp4())
        self.failing_seed = failing_seed

    async def submit(
        self, job_id: str, request: GenerationRequest, *, callback_url: str | None
    ) -> str:
        pid = await super().submit(job_id, request, callback_url=callback_url)
        if request.seed == self.failing_seed:
            failed = ProviderStatus(
                ProviderJobState.FAILED, error_code="blocked", error_message="Blocked."
            )
            self.jobs[pid] = ScriptedJob(request, [failed])
        return pid


async def takes_of(store: SqliteStore, some: Job) -> list[Job]:
    """Every take of the group `some` is in, first take first."""
    assert some.group_id is not None
    return await store.group_jobs(some.group_id)


async def test_count_three_is_one_card_and_one_message_with_three_videos(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        reply = await bot.reply(
            await fake.slash("veo", {"prompt": "a paper boat", "seed": 5, "count": 3})
        )
        takes = await takes_of(store, await bot.next_job())
        assert f"Queued as job `{takes[0].id}`" in reply
        assert "You asked for 3 takes: 24 s are set aside for them in all." in reply
        finished = [await bot.finished(take) for take in takes]

        assert [t.state for t in finished] == [JobState.DELIVERED] * 3
        assert [t.take for t in finished] == [0, 1, 2]
        assert [bot.request_of(t).seed for t in finished] == [5, 6, 7]
        assert [await bot.ledger(t) for t in finished] == ["settled"] * 3
        # One card, one thread, one message holding the three videos.
        assert len(fake.threads()) == 1
        thread = bot.thread_of(finished[0])
        [message] = [m for m in fake.bot_messages_in(thread) if m.videos]
        assert [v.filename for v in message.videos] == [f"veo-{t.id}.mp4" for t in finished]
        assert "your 3 videos are ready" in message.content
        for number in (1, 2, 3):
            message.button(f"Re-roll {number}")
        assert {t.delivery_refs for t in finished} == {finished[0].delivery_refs}


async def test_a_failed_take_is_named_and_refunded_and_the_others_are_shown(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = FailsOneSeed(failing_seed=11)
    async with running_bot(store, tmp_path, provider=provider) as bot:
        fake = bot.fake
        await bot.reply(await fake.slash("veo", {"prompt": "a kite", "seed": 10, "count": 2}))
        takes = await takes_of(store, await bot.next_job())
        made, failed = [await bot.finished(take) for take in takes]

        assert (made.state, failed.state) == (JobState.DELIVERED, JobState.FAILED)
        assert (await bot.ledger(made), await bot.ledger(failed)) == ("settled", "refunded")
        [message] = [m for m in fake.bot_messages_in(bot.thread_of(made)) if m.videos]
        assert [v.filename for v in message.videos] == [f"veo-{made.id}.mp4"]
        assert f"Take 2 could not be made; its {failed.cost_s:g} s were refunded." in (
            message.content
        )


async def test_re_roll_of_one_take_makes_that_take_again(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        await bot.reply(await fake.slash("veo", {"prompt": "a red kite", "seed": 3, "count": 2}))
        takes = await takes_of(store, await bot.next_job())
        finished = [await bot.finished(take) for take in takes]
        [message] = [m for m in fake.bot_messages_in(bot.thread_of(finished[0])) if m.videos]

        await bot.reply(await fake.click(message, "Re-roll 2"))
        again = await bot.finished(await bot.next_job(2))  # created after the takes

        assert again.group_id is None and again.request.count == 1
        assert again.request.prompt == "a red kite"
        assert again.request.seed is not None and again.request.seed not in (3, 4)


async def test_a_count_out_of_range_is_refused_and_changes_nothing(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        reply = await bot.reply(await bot.fake.slash("veo", {"prompt": "a kite", "count": 5}))
        assert "Ask for 1 to 4 videos at once, not 5." in reply
        assert await bot.jobs() == [] and bot.provider.submits == []


async def test_takes_that_do_not_fit_the_quota_are_refused_together(
    store: SqliteStore, tmp_path: Path
) -> None:
    limits = QuotaLimits(user_daily_s=20, user_concurrent=2, workspace_monthly_s=0)
    async with running_bot(store, tmp_path, limits=limits) as bot:
        reply = await bot.reply(
            await bot.fake.slash("veo", {"prompt": "a kite", "duration": 8, "count": 4})
        )
        assert "4 videos do not fit, but 2 would" in reply, reply
        assert await bot.jobs() == []
