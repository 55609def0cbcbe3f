"""Money on Slack: `/veo admin limits … daily-usd=… monthly-usd=…`, refusals and the card
naming the price, `/veo quota` with money left, and `/veo admin chart` sent by DM through
files upload v2 (an ephemeral message cannot hold a file)."""

from __future__ import annotations

from pathlib import Path

from bot.models import QuotaLimits
from storage.sqlite import SqliteStore
from tests.slack.support import SlackBot, card_of, running_bot
from tests.support import png_size


async def answer(bot: SlackBot, text: str, user: str = "UADMIN") -> str:
    seen = len(bot.fake.responses)
    await bot.command(text, user=user)
    replies = await bot.fake.wait_for(
        lambda: bot.fake.responses if len(bot.fake.responses) > seen else None
    )
    return str(replies[-1]["text"])


async def test_money_limits_from_slack_and_what_people_read_of_them(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path, limits=QuotaLimits(1000, 5, 0)) as bot:
        for typed, refusal in (
            ("daily-usd=nan", "daily-usd must be an amount from 0 to 1,000,000 US dollars"),
            ("daily-usd=-2", "daily-usd must be an amount from 0 to 1,000,000 US dollars"),
            ("daily-usd=lots", "daily-usd takes an amount in US dollars, like 10.50"),
            ("monthly-usd=5", "The monthly limit belongs to a workspace, not a user."),
            ("dollars=5", "Limits look like daily=60 concurrent=3 monthly=3600 daily-usd=5"),
        ):
            assert refusal in await answer(bot, f"admin limits <@U1|one> {typed}"), typed
        assert "Only the bot's admins" in await answer(
            bot, "admin limits <@U1|one> daily-usd=100", user="U1"
        )
        assert await store.overrides() == []
        said = await answer(bot, "admin limits <@U1|one> daily-usd=2")
        assert said == "Limits set for <@U1>: $2.00 a day."
        said = await answer(bot, "admin limits workspace monthly-usd=0")
        assert said == "Limits set for this workspace: no money limit a month."

        await bot.command("a fox", user="U1")
        job = await bot.finished(await bot.next_job())
        assert "8 s · ≈ $1.20 · 16:9" in card_of(bot.fake, job).all_text
        refusal = await answer(bot, "a second fox", user="U1")
        assert "This video (8 s) costs about $1.20, and you have $0.80 of $2.00 left today." in (
            refusal
        )
        quota = await answer(bot, "quota", user="U1")
        assert "Spent today: $1.20; *$0.80* of $2.00 left today." in quota
        assert len(await bot.jobs()) == 1


async def test_the_usage_chart_goes_to_the_admin_by_dm_as_a_png(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        await bot.command("a fox", user="U1")
        await bot.finished(await bot.next_job())

        assert "Only the bot's admins" in await answer(bot, "admin chart", user="U1")
        assert "U1" not in bot.fake.dms
        said = await answer(bot, "admin chart")
        assert said == "The usage chart is in your direct messages with the bot."
        dm = bot.fake.dms["UADMIN"]
        (posted,) = [m for m in bot.fake.messages if m.channel == dm]
        assert "1 person, in USD" in posted.text
        (file,) = posted.files
        assert file.name.startswith("veo-usage-") and file.name.endswith(".png")
        assert png_size(file.data) == (1000, 500)
        assert bot.fake.calls_to("files.getUploadURLExternal")
