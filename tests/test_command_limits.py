"""One person cannot make the bot work as fast as they can click (issue 12, item 14).

A Re-roll over quota is refused before the stored images (up to 40 MB) are read: the store's
own connection records every statement it runs (sqlite's trace callback), and none may touch
the re-rolled job's `job_media`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.models import Job, ProviderJobState, ProviderStatus, QuotaLimits
from storage.sqlite import SqliteStore
from tests.fakes.slack_fake import BOT_USER_ID, TEAM_ID, Message
from tests.support import eventually, png_bytes
from tests.test_slack import SlackBot, result_of
from tests.test_slack import running_bot as slack_bot

PNG = png_bytes(320, 180)
RUNNING = ProviderStatus(ProviderJobState.RUNNING, progress=50)


@contextlib.asynccontextmanager
async def statements_on(store: SqliteStore) -> AsyncIterator[list[str]]:
    """Every SQL statement the store's reading connection runs meanwhile."""
    seen: list[str] = []
    await store._reader.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        await store._reader.set_trace_callback(None)  # type: ignore[arg-type]  # sqlite3 takes None


async def video_with_an_image(bot: SlackBot, user: str = "U1") -> Message:
    """A finished video made from an attached image (its bytes kept in the store)."""
    picture = bot.fake.add_file(PNG, "sky.png", user=user)
    mention = bot.fake.add_message(
        "C1", f"<@{BOT_USER_ID}> clouds drift", user=user, files=[picture]
    )
    await bot.mention(mention, event_id=f"Ev-{picture.id}")
    done = await bot.finished(await bot.next_job())
    assert len(await bot.store.load_media(done.id)) == 1
    return result_of(bot.fake, done)


Arrange = Callable[[SlackBot], "contextlib.AbstractAsyncContextManager[None]"]


@contextlib.asynccontextmanager
async def nothing_more(bot: SlackBot) -> AsyncIterator[None]:
    yield


@contextlib.asynccontextmanager
async def another_video_in_flight(bot: SlackBot) -> AsyncIterator[None]:
    bot.provider.readings = [RUNNING]  # the next job stays at the provider
    await bot.command("a second sky")
    job = await bot.next_job(1)

    async def at_provider() -> Job | None:
        current = await bot.store.get_job(job.id)
        return current if current is not None and current.provider_job_id else None

    await eventually(at_provider)
    yield


@contextlib.asynccontextmanager
async def clicker_blocked(bot: SlackBot) -> AsyncIterator[None]:
    await bot.service.set_blocked(f"slack:{TEAM_ID}:U2", True)
    yield


@pytest.mark.parametrize(
    ("limits", "clicker", "arrange", "words"),
    [
        (
            QuotaLimits(user_daily_s=10, user_concurrent=5, workspace_monthly_s=0),
            "U1",
            nothing_more,
            "This video costs 8 s of your daily quota, and you have 2 s of 10 s left today.",
        ),
        (
            QuotaLimits(user_daily_s=1000, user_concurrent=1, workspace_monthly_s=0),
            "U1",
            another_video_in_flight,
            "You already have 1 video in progress (limit 1).",
        ),
        (
            QuotaLimits(user_daily_s=1000, user_concurrent=5, workspace_monthly_s=10),
            "U2",
            nothing_more,
            "this workspace has 2 s of its 10 s for the month left",
        ),
        (
            QuotaLimits(user_daily_s=1000, user_concurrent=5, workspace_monthly_s=0),
            "U2",
            clicker_blocked,
            "You are not allowed to make videos here",
        ),
    ],
    ids=["daily", "concurrent", "monthly", "blocked"],
)
async def test_a_re_roll_over_quota_is_refused_before_the_stored_images_are_read(
    store: SqliteStore,
    tmp_path: Path,
    limits: QuotaLimits,
    clicker: str,
    arrange: Arrange,
    words: str,
) -> None:
    async with slack_bot(store, tmp_path, limits=limits) as bot:
        result = await video_with_an_image(bot)
        async with arrange(bot):
            jobs_before = len(await bot.jobs())
            fake = bot.fake

            async with statements_on(store) as statements:
                reply = await bot.interact(
                    fake.block_action_payload(result, "veo_reroll", user=clicker)
                )
                assert (reply.status, reply.body) == (200, "")
                [answer] = await fake.wait_for(lambda: fake.responses)

        assert answer["response_type"] == "ephemeral" and words in answer["text"]
        assert any("blocked_users" in sql for sql in statements)  # the quota was looked at
        rerolled = result.button("veo_reroll")["value"]
        assert not [sql for sql in statements if "job_media" in sql and rerolled in sql]
        assert len(await bot.jobs()) == jobs_before
