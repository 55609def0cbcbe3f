"""Quotas and `/veo admin` on Slack: admins steering limits and banned words, limits that are
not sane numbers, and a spent quota explained."""

from __future__ import annotations

from pathlib import Path

from bot.models import Origin, QuotaLimits
from storage.sqlite import SqliteStore
from tests.fakes.slack import TEAM_ID
from tests.slack.support import running_bot


async def test_admins_steer_quotas_and_banned_words_and_nobody_else_can(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:

        async def answer(text: str, user: str) -> str:
            seen = len(bot.fake.responses)
            await bot.command(text, user=user)
            replies = await bot.fake.wait_for(
                lambda: bot.fake.responses if len(bot.fake.responses) > seen else None
            )
            return str(replies[-1]["text"])

        for action in (
            "limits <@U1|one> daily=4",
            "limits workspace monthly=1",
            "clear <@U1|one>",
            "reset <@U1|one>",
            "block <@U1|one>",
            "unblock <@U1|one>",
            "usage",
            "ban fireworks",
            "unban fireworks",
            "banned",
        ):
            assert "Only the bot's admins" in await answer(f"admin {action}", user="U1")
        assert await bot.service.store.banned_terms(f"slack:{TEAM_ID}") == []
        assert (await bot.service.quota_report(origin_of("U1"))).daily_limit_s == 1000
        assert (
            await answer("admin limits <@U1|one> daily=4", user="UADMIN")
            == "Limits set for <@U1>: 4 s a day."
        )
        assert (await bot.service.quota_report(origin_of("U1"))).daily_limit_s == 4
        assert await answer("admin ban fireworks", user="UADMIN") == "Banned in this workspace."
        assert await answer("admin banned", user="UADMIN") == "Banned here: `fireworks`"
        assert "not a valid regular expression" in await answer("admin ban re:(", user="UADMIN")
        assert await answer("admin block U2", user="UADMIN") == "<@U2> blocked."
        assert "limits @user" in await answer("admin", user="UADMIN")
        refusal = await answer("Fireworks over the bay", user="U3")
        assert "does not allow" in refusal and "fireworks" not in refusal.lower()
        assert await bot.jobs() == []


async def test_limits_that_are_not_sane_numbers_and_resetting_ones_own_day_are_refused(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:

        async def answer(text: str, user: str = "UADMIN") -> str:
            seen = len(bot.fake.responses)
            await bot.command(text, user=user)
            replies = await bot.fake.wait_for(
                lambda: bot.fake.responses if len(bot.fake.responses) > seen else None
            )
            return str(replies[-1]["text"])

        for limits, refusal in (
            ("daily=nan", "daily must be a number from 0 to 1,000,000 seconds, not nan."),
            ("daily=inf", "daily must be a number from 0 to 1,000,000 seconds, not inf."),
            ("daily=-1", "daily must be a number from 0 to 1,000,000 seconds, not -1."),
            ("daily=1e9", "daily must be a number from 0 to 1,000,000 seconds, not 1e+09."),
            ("concurrent=inf", "concurrent takes a whole number, not 'inf'."),
            ("concurrent=1e9", "concurrent takes a whole number, not '1e9'."),
            ("concurrent=5000", "concurrent must be a number from 0 to 1,000 videos at a time"),
        ):
            assert refusal in await answer(f"admin limits <@U1|one> {limits}"), limits
        assert "monthly must be a number" in await answer("admin limits workspace monthly=NaN")
        assert "Nobody resets their own day" in await answer("admin reset <@UADMIN|me>")
        assert await store.overrides() == []
        assert (await bot.service.quota_report(origin_of("U1"))).daily_limit_s == 1000

        # The bot's own admins speak as the operator: above the defaults is theirs to allow.
        said = await answer("admin limits <@U1|one> daily=2000")
        assert said == "Limits set for <@U1>: 2000 s a day."
        assert (await bot.service.quota_report(origin_of("U1"))).daily_limit_s == 2000
        assert await answer("admin reset <@U1|one>") == "Today starts afresh for <@U1>."


def origin_of(user: str) -> Origin:
    return Origin(platform="slack", workspace_id=TEAM_ID, channel_id="C1", user_id=user)


async def test_a_spent_quota_is_explained_and_nothing_is_posted(
    store: SqliteStore, tmp_path: Path
) -> None:
    limits = QuotaLimits(user_daily_s=5, user_concurrent=2, workspace_monthly_s=0)
    async with running_bot(store, tmp_path, limits=limits) as bot:
        await bot.command("a fox")

        [answer] = await bot.fake.wait_for(lambda: bot.fake.responses)
        assert "you have 5 s of 5 s left today" in answer["text"]
        assert answer["response_type"] == "ephemeral"
        assert await bot.jobs() == [] and bot.fake.calls_to("chat.postMessage") == []
