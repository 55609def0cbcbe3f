"""Money on Discord: limits in US dollars through /veo-admin, a refusal that names the price
and what is left, the price on the card and in /veo-quota, and the usage chart as an
ephemeral follow-up only the admin sees."""

from __future__ import annotations

from pathlib import Path

from bot.admin import Admins
from bot.models import QuotaLimits
from storage.sqlite import SqliteStore
from tests.discord.support import running_bot
from tests.fakes.discord import EPHEMERAL, MANAGE_GUILD, MEMBER_PERMISSIONS, User
from tests.support import png_size


async def test_money_limits_are_set_in_dollars_and_refusals_and_cards_show_the_price(
    store: SqliteStore, tmp_path: Path
) -> None:
    caps = QuotaLimits(1000, 5, 0, user_daily_micro_usd=5_000_000)
    async with running_bot(store, tmp_path, limits=caps) as bot:
        fake = bot.fake
        member = fake.add_user("member")
        moderator = fake.add_user("moderator", permissions=MEMBER_PERMISSIONS | MANAGE_GUILD)
        operator = fake.add_user("operator")
        bot.adapter._commands.admin.admins = Admins([f"discord:{operator.id}"])

        async def admin(action: str, options: dict[str, object], user: User) -> str:
            asked = await fake.slash(f"veo-admin {action}", options, user=user)
            text = await bot.reply(asked)
            assert asked.callbacks[0]["data"]["flags"] & EPHEMERAL
            return text

        refused = await admin("limits", {"daily_usd": 10}, moderator)
        assert "You can set daily-usd up to $5.00 a day here" in refused
        assert "must be an amount" in await admin("limits", {"daily_usd": float("nan")}, operator)
        assert "belongs to a workspace" in await admin(
            "limits", {"user": member, "monthly_usd": 5}, moderator
        )
        assert await store.overrides() == []
        said = await admin("limits", {"user": member, "daily_usd": 2.5}, moderator)
        assert said == f"Limits set for <@{member.id}>: $2.50 a day."
        said = await admin("limits", {"monthly_usd": 500, "daily": 60}, operator)
        assert said == "Limits set for this server: 60 s a day, $500.00 a month."

        first = await fake.slash("veo", {"prompt": "a fox", "duration": 8}, user=member)
        assert "Queued as job" in (answer := await bot.reply(first))
        assert "scripted-1, 8 s ≈ $1.20, 16:9" in answer
        done = await bot.finished(await bot.next_job())
        fields = {
            f["name"]: f["value"] for f in (await bot.video_message(done)).embeds[0]["fields"]
        }
        assert (fields["Duration"], fields["Cost"]) == ("8 s", "≈ $1.20")

        await bot.reply(await fake.slash("veo", {"prompt": "a fox", "duration": 4}, user=member))
        await bot.finished(await bot.next_job(known=1))
        # $1.80 of $2.50 spent: another 8 s (≈ $1.20) does not fit.
        over = await bot.reply(
            await fake.slash("veo", {"prompt": "a third fox", "duration": 8}, user=member)
        )
        assert "This video (8 s) costs about $1.20, and you have $0.70 of $2.50 left today." in over
        assert len(await bot.jobs()) == 2

        quota = await bot.reply(await fake.slash("veo-quota", user=member))
        assert "Spent today: $1.80; $0.70 of $2.50 left today." in quota
        assert "This server has spent $1.80 this month: $498.20 of $500.00 left." in quota
        report = await admin("usage", {}, moderator)
        assert report.startswith("This month: 12 s of video, $1.80. Top users:")
        assert f"<@{member.id}>: 12 s in 2 job(s), $1.80" in report


async def test_the_usage_chart_reaches_only_the_admin_as_a_png(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        member = fake.add_user("member")
        moderator = fake.add_user("moderator", permissions=MEMBER_PERMISSIONS | MANAGE_GUILD)
        await bot.reply(await fake.slash("veo", {"prompt": "a bay", "duration": 8}, user=member))
        await bot.finished(await bot.next_job())

        refused = await fake.slash("veo-admin chart", user=member)
        assert "Only this server's admins" in await bot.reply(refused)
        assert [m.attachments for m in refused.replies] == [[]]

        asked = await fake.slash("veo-admin chart", user=moderator)
        chart = await fake.wait_for(lambda: asked.followups[0] if asked.followups else None)
        assert asked.callbacks[0]["data"]["flags"] & EPHEMERAL
        assert chart.flags & EPHEMERAL
        assert asked.original is not None
        assert "Spend per day in 20" in asked.original.text()
        assert "1 person, in USD (only you can see this)" in asked.original.text()
        (picture,) = chart.attachments
        assert picture.filename.startswith("veo-usage-") and picture.filename.endswith(".png")
        assert png_size(picture.data) == (1000, 500)
        # Nothing went to the channel: only the video and its card are there.
        assert all(not m.attachments or m.videos for m in fake.bot_messages_in(fake.channel_id))
