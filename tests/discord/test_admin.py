"""Quotas and /veo-admin on Discord: a spent quota explained, admins steering limits, blocks
and banned words, and what a server admin may not do."""

from __future__ import annotations

from pathlib import Path

from bot.admin import Admins
from bot.models import QuotaLimits
from storage.sqlite import SqliteStore
from tests.discord.support import running_bot
from tests.fakes.discord import EPHEMERAL, MANAGE_GUILD, MEMBER_PERMISSIONS, User


async def test_a_spent_quota_is_refused_saying_which_limit_and_when_it_frees(
    store: SqliteStore, tmp_path: Path
) -> None:
    limits = QuotaLimits(user_daily_s=10, user_concurrent=5, workspace_monthly_s=0)
    async with running_bot(store, tmp_path, limits=limits) as bot:
        fake = bot.fake
        first = await fake.slash("veo", {"prompt": "a fox", "duration": 8})
        await bot.reply(first)
        done = await bot.finished(await bot.next_job())
        assert "2 s of your 10 s left today" in (await bot.video_message(done)).text()

        second = await fake.slash("veo", {"prompt": "a second fox", "duration": 8})
        reply = await bot.reply(second)
        assert (
            "costs 8 s (≈ $1.20) of your daily quota" in reply and "2 s of 10 s left today" in reply
        )
        assert "resets at" in reply
        assert len(await bot.jobs()) == 1

        quota = await fake.slash("veo-quota")
        text = await bot.reply(quota)
        assert quota.callbacks[0]["data"]["flags"] & EPHEMERAL
        assert "used 8 s of video out of 10 s: 2 s left" in text
        assert "Videos in progress: 0 of 5 at a time." in text


async def test_admins_steer_quotas_blocks_and_banned_words_and_nobody_else_can(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        member = fake.add_user("member")
        moderator = fake.add_user("moderator", permissions=MEMBER_PERMISSIONS | MANAGE_GUILD)
        listed = fake.add_user("listed")  # no Manage Server, but named in VEO_ADMINS
        bot.adapter._commands.admin.admins = Admins([f"discord:{listed.id}"])

        async def admin(action: str, options: dict[str, object], user: User) -> str:
            asked = await fake.slash(f"veo-admin {action}", options, user=user)
            text = await bot.reply(asked)
            assert asked.callbacks[0]["data"]["flags"] & EPHEMERAL
            return text

        workspace = f"discord:{fake.guild_id}"
        refused: list[tuple[str, dict[str, object]]] = [
            ("limits", {"user": member, "daily": 4}),
            ("limits", {"monthly": 1}),
            ("clear", {"user": member}),
            ("reset", {"user": member}),
            ("block", {"user": member}),
            ("unblock", {"user": member}),
            ("usage", {}),
            ("ban", {"term": "fireworks"}),
            ("unban", {"term": "fireworks"}),
            ("banned", {}),
        ]
        for action, options in refused:
            assert "Only this server's admins" in await admin(action, options, member)
        assert (
            await store.effective_limits(
                f"{workspace}:{member.id}", workspace, bot.service.config.limits
            )
            == bot.service.config.limits
        )
        assert await store.banned_terms(workspace) == []

        said = await admin("limits", {"user": member, "daily": 4, "concurrent": 1}, moderator)
        assert said == f"Limits set for <@{member.id}>: 4 s a day, 1 at a time."
        limits = await store.effective_limits(
            f"{workspace}:{member.id}", workspace, bot.service.config.limits
        )
        assert (limits.user_daily_s, limits.user_concurrent) == (4, 1)
        said = await admin("limits", {"monthly": 600}, listed)
        assert said == "Limits set for this server: 600 s a month."
        assert "The monthly limit belongs to a workspace" in await admin(
            "limits", {"user": member, "monthly": 5}, moderator
        )
        assert await admin("ban", {"term": "Fireworks"}, moderator) == "Banned on this server."
        assert "not a valid regular expression" in await admin("ban", {"term": "re:("}, listed)
        assert await admin("banned", {}, moderator) == "Banned here: `Fireworks`"

        # A member's prompt with a banned word: refused without repeating the word.
        refusal = await bot.reply(await fake.slash("veo", {"prompt": "FIREWORKS over the bay"}))
        assert "does not allow" in refusal and "fireworks" not in refusal.lower()
        # Over the member's 4 s: refused, naming the daily limit.
        over = await bot.reply(await fake.slash("veo", {"prompt": "a bay"}, user=member))
        assert "of your daily quota" in over

        assert await admin("block", {"user": member}, moderator) == f"<@{member.id}> blocked."
        blocked = await bot.reply(
            await fake.slash("veo", {"prompt": "a bay", "duration": 4}, user=member)
        )
        assert "You are not allowed to make videos here" in blocked
        assert await admin("unblock", {"user": member}, moderator) == f"<@{member.id}> unblocked."
        assert "cleared" in await admin("clear", {"user": member}, moderator)
        assert await bot.jobs() == []
        assert await admin("usage", {}, moderator) == "No videos this month yet."

        await bot.reply(await fake.slash("veo", {"prompt": "a bay", "duration": 4}, user=member))
        await bot.finished(await bot.next_job())
        report = await admin("usage", {}, moderator)
        assert f"<@{member.id}>: 4 s in 1 job(s)" in report


async def test_a_server_admin_cannot_lift_the_operators_limits_or_reset_their_own_day(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path, limits=QuotaLimits(8, 2, 0)) as bot:
        fake = bot.fake
        member = fake.add_user("member")
        moderator = fake.add_user("moderator", permissions=MEMBER_PERMISSIONS | MANAGE_GUILD)
        operator = fake.add_user("operator")  # named in VEO_ADMINS
        bot.adapter._commands.admin.admins = Admins([f"discord:{operator.id}"])
        workspace = f"discord:{fake.guild_id}"

        async def admin(action: str, options: dict[str, object], user: User) -> str:
            return await bot.reply(await fake.slash(f"veo-admin {action}", options, user=user))

        async def quota(user: User) -> str:
            return await bot.reply(await fake.slash("veo-quota", user=user))

        await bot.reply(await fake.slash("veo", {"prompt": "a bay", "duration": 8}, user=moderator))
        await bot.finished(await bot.next_job())
        # What a server admin tries, each through /veo-admin, as Discord would deliver it if a
        # modified client got past the option's own bounds.
        attempts: list[tuple[str, dict[str, object], str]] = [
            ("limits", {"daily": 1e9}, "daily must be a number from 0 to 1,000,000 seconds"),
            ("limits", {"daily": 20}, "You can set daily up to 8 s a day here"),
            ("limits", {"user": moderator, "daily": 9}, "You can set daily up to 8 s a day"),
            ("limits", {"user": member, "concurrent": 3}, "You can set concurrent up to 2"),
            ("limits", {"daily": float("nan")}, "daily must be a number from 0 to 1,000,000"),
            ("limits", {"daily": float("inf")}, "daily must be a number from 0 to 1,000,000"),
            ("limits", {"monthly": -1}, "monthly must be a number from 0 to 1,000,000"),
            ("limits", {"user": member, "daily": -1}, "daily must be a number"),
            ("reset", {"user": moderator}, "Nobody resets their own day"),
        ]
        for action, options, refusal in attempts:
            said = await admin(action, options, moderator)
            assert refusal in said, (options, said)
        assert await store.overrides() == []
        assert "used 8 s of video out of 8 s: 0 s left" in await quota(moderator)
        over = await bot.reply(
            await fake.slash("veo", {"prompt": "a bay", "duration": 4}, user=moderator)
        )
        assert "of your daily quota" in over  # the day was not reset

        # The operator may go higher; the server admin may then share out up to that.
        said = await admin("limits", {"user": member, "daily": 40}, operator)
        assert said == f"Limits set for <@{member.id}>: 40 s a day."
        said = await admin("limits", {"user": member, "daily": 30}, moderator)
        assert said == f"Limits set for <@{member.id}>: 30 s a day."
        assert "up to 40 s a day" in await admin("limits", {"user": member, "daily": 41}, moderator)
        assert "out of 30 s" in await quota(member)
        # Nobody resets their own day, the bot's own admins included; others' days, yes.
        assert "Nobody resets" in await admin("reset", {"user": operator}, operator)
        said = await admin("reset", {"user": moderator}, operator)
        assert said == f"Today starts afresh for <@{moderator.id}>."
        rows = await store.overrides()
        assert [(r.subject, r.set_by, r.daily_s) for r in rows] == [
            (f"{workspace}:{member.id}", "operator", 40),
            (f"{workspace}:{member.id}", "workspace_admin", 30),
        ]
        # A server admin clears their own limits; the operator's stay.
        said = await admin("clear", {"user": member}, moderator)
        assert said == f"Limits for <@{member.id}> cleared; the operator's apply again."
        assert "out of 40 s" in await quota(member)
