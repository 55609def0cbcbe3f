"""One person cannot make the bot work as fast as they can click (issue 12, item 14).

A Re-roll over quota is refused before the stored images (up to 40 MB) are read: the store's
own connection records every statement it runs (sqlite's trace callback), and none may touch
`job_media`. And a per-person rate limit stops `/veo`, Re-roll, Extend and Animate, on Slack
and on Discord, with a plain private answer and nothing charged; the limiter runs on the
service's injected clock, so the refill is the test's to give."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import discord.gateway
import discord.http
import pytest
from pydantic import ValidationError

from bot.admin import AdminActions
from bot.app import open_runtime
from bot.clock import ManualClock
from bot.models import Authority, Job, ProviderJobState, ProviderStatus, QuotaLimits
from bot.settings import Settings
from storage.sqlite import SqliteStore
from tests.discord.support import running_bot as discord_bot
from tests.fakes._base import sample_mp4
from tests.fakes.discord import FakeDiscord
from tests.fakes.slack import (
    BOT_USER_ID,
    TEAM_ID,
    FakeSlack,
    Message,
    text_value,
)
from tests.slack.support import SlackBot, result_of
from tests.slack.support import running_bot as slack_bot
from tests.support import ScriptedProvider, eventually, png_bytes

PNG = png_bytes(320, 180)
RUNNING = ProviderStatus(ProviderJobState.RUNNING, progress=50)
TOO_FAST = "You're going too fast: try again in"


@pytest.fixture(autouse=True)
def discord_endpoints() -> Iterator[None]:
    """The Discord adapter points discord.py's class attributes at the fake; put them back."""
    base = discord.http.Route.BASE
    gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    yield
    discord.http.Route.BASE = base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway


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
async def none_at_once(bot: SlackBot) -> AsyncIterator[None]:
    """The operator allows the clicker no video at a time: waiting would be for ever."""
    await bot.service.store.set_override(
        "user", f"slack:{TEAM_ID}:U1", set_by=Authority.OPERATOR, now=0, concurrent=0
    )
    yield


@contextlib.asynccontextmanager
async def clicker_blocked(bot: SlackBot) -> AsyncIterator[None]:
    service = bot.service
    admin = AdminActions(service.store, defaults=service.config.limits, clock=service.clock)
    await admin.set_blocked(f"slack:{TEAM_ID}:U2", True)
    yield


@pytest.mark.sqlite_only  # it traces the SQLite reader's statements
@pytest.mark.parametrize(
    ("limits", "clicker", "arrange", "words"),
    [
        (
            QuotaLimits(user_daily_s=10, user_concurrent=5, workspace_monthly_s=0),
            "U1",
            nothing_more,
            "This video costs 8 s (≈ $1.20) of your daily quota, and you have 2 s of 10 s left "
            "today.",
        ),
        (
            QuotaLimits(1000, 5, 0, user_daily_micro_usd=2_000_000),
            "U1",
            nothing_more,
            "This video (8 s) costs about $1.20, and you have $0.80 of $2.00 left today.",
        ),
        (
            QuotaLimits(user_daily_s=1000, user_concurrent=5, workspace_monthly_s=0),
            "U1",
            none_at_once,
            "You may not have any video in progress here (limit 0), so none can start.",
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
    ids=["daily", "daily_usd", "concurrent", "monthly", "blocked"],
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


async def test_slack_commands_past_the_rate_limit_are_refused_and_charge_nothing(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with FakeSlack() as fake:
        async with slack_bot(store, tmp_path, fake=fake) as first:
            result = await video_with_an_image(first)
        clock = ManualClock(time.time())
        async with slack_bot(store, tmp_path, fake=fake, clock=clock, commands_per_minute=3) as bot:
            # Three in a minute: a command, a Re-roll and a mention with an image.
            await bot.command("a kite")
            await bot.interact(fake.block_action_payload(result, "veo_reroll", user="U1"))
            picture = fake.add_file(PNG, "dunes.png")
            mention = fake.add_message(
                "C1", f"<@{BOT_USER_ID}> sand blows", files=[picture], user="U1"
            )
            await bot.mention(mention, event_id="EvThird")
            await bot.next_job(3)
            fetched = len([r for r in fake.requests if r.path.startswith("/files-pri/")])

            # The fourth, whatever its way in, is refused in plain words.
            await bot.command("a kite again")
            await bot.interact(fake.block_action_payload(result, "veo_reroll", user="U1"))
            again = fake.add_message(
                "C1", f"<@{BOT_USER_ID}> more sand", files=[picture], user="U1"
            )
            await bot.mention(again, event_id="EvFourth")
            await bot.command("")
            view = await bot.opened_view()
            form = await bot.interact(
                fake.view_submission_payload(view, {"prompt": text_value("a storm")})
            )

            said = await fake.wait_for(
                lambda: (
                    [r["text"] for r in fake.responses if TOO_FAST in r["text"]]
                    if len(fake.responses) >= 2
                    else None
                )
            )
            assert said == [f"{TOO_FAST} 20 s."] * 2  # the command and the Re-roll
            [whisper] = await fake.wait_for(lambda: fake.ephemerals)
            assert whisper["text"] == f"{TOO_FAST} 20 s." and whisper["user"] == "U1"
            assert form.json() == {
                "response_action": "errors",
                "errors": {"prompt": f"{TOO_FAST} 20 s."},
            }
            # Nothing fetched, nothing charged: four jobs in all, the first bot's included.
            assert len([r for r in fake.requests if r.path.startswith("/files-pri/")]) == fetched
            mine = [j for j in await bot.jobs() if j.origin.user_id == "U1"]
            assert len(mine) == 4
            usage = await bot.service.quota_report(mine[0].origin)
            assert usage.used_today_s == sum(j.cost_s for j in mine)

            # Someone else is not slowed down; and after 20 s, U1 has a command again.
            await bot.command("a kite for me", user="U2")
            clock.advance(20)
            await bot.command("a kite, finally")

            async def both() -> list[Job] | None:
                jobs = await bot.jobs()
                return jobs if len(jobs) == 6 else None

            prompts = {j.request.prompt for j in await eventually(both)}
            assert {"a kite for me", "a kite, finally"} <= prompts


async def test_discord_commands_past_the_rate_limit_are_refused_and_charge_nothing(
    store: SqliteStore, tmp_path: Path
) -> None:
    gemini = ScriptedProvider(video=sample_mp4())
    gemini.name = "gemini"
    model = "gemini/gemini-omni-1.1-flash"
    async with FakeDiscord() as fake:
        async with discord_bot(store, tmp_path, fake=fake, providers={"gemini": gemini}) as first:
            await first.reply(await fake.slash("veo", {"prompt": "a wave", "model": model}))
            made = await first.finished(await first.next_job())
            video = await first.video_message(made)
        clock = ManualClock(time.time())
        gemini.readings = [RUNNING]
        async with discord_bot(
            store,
            tmp_path,
            fake=fake,
            providers={"gemini": gemini},
            clock=clock,
            commands_per_minute=4,
        ) as bot:
            artist = fake.add_user("artist")
            picture = fake.upload(PNG, "harbour.png", "image/png")
            post = fake.post_as(artist, "my harbour sketch", attachments=[picture])

            async def veo() -> str:
                return await bot.reply(
                    await fake.slash("veo", {"prompt": "a kite", "model": model})
                )

            async def reroll() -> str:
                return await bot.reply(await fake.click(video, "Re-roll"))

            async def extend() -> str:
                opened = await fake.click(video, "Extend")
                await fake.wait_for(lambda: opened.callbacks)
                return await bot.reply(await fake.submit_modal(opened, {"prompt": "it breaks"}))

            async def animate() -> str:
                opened = await fake.message_command("Animate with Veo", post)
                await fake.wait_for(lambda: opened.callbacks)
                answers = {"prompt": "boats bob", "model": [model]}
                return await bot.reply(await fake.submit_modal(opened, answers))

            for command in (veo, reroll, extend, animate):
                assert "Queued" in await command()
            downloads = list(fake.cdn_requests)
            assert len(downloads) == 1  # the picture Animate used

            for command in (veo, reroll, extend, animate):
                assert await command() == f"{TOO_FAST} 15 s."
            assert fake.cdn_requests == downloads  # the refused Animate fetched nothing
            jobs = await bot.jobs()
            assert len(jobs) == 5
            usage = await bot.service.quota_report(jobs[-1].origin)
            assert usage.used_today_s == sum(j.cost_s for j in jobs)

            colleague = fake.add_user("colleague")
            asked = await fake.slash("veo", {"prompt": "my kite", "model": model}, user=colleague)
            assert "Queued" in await bot.reply(asked)
            clock.advance(15)
            assert "Queued" in await veo()


async def test_the_operator_sets_the_rate_limit_and_six_a_minute_is_the_default(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = await open_runtime(settings, {})
    try:
        assert runtime.service.config.commands_per_minute == 6
    finally:
        await runtime.aclose()
    monkeypatch.setenv("VEO_USER_COMMANDS_PER_MINUTE", "2")
    assert Settings(_env_file=None).veo_user_commands_per_minute == 2
    monkeypatch.setenv("VEO_USER_COMMANDS_PER_MINUTE", "-1")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)
