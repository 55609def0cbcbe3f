"""`/veo` in a direct message with the bot on Discord: offered there, answered there (card and
video in the DM, no thread), counted under the person's home server — the server they last
asked in — so that a DM adds no quota of its own."""

from __future__ import annotations

from pathlib import Path

from bot.models import JobState, QuotaLimits
from storage.sqlite import SqliteStore
from tests.discord.support import running_bot


async def test_veo_in_a_dm_answers_there_under_the_home_servers_quota(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path, limits=QuotaLimits(16, 2, 0)) as bot:
        fake = bot.fake
        person = fake.add_user("person")

        # Never in a server yet: the DM counts on its own ("dm"), and the video comes there.
        first = await fake.slash(
            "veo", {"prompt": "a lantern", "duration": 8}, user=person, in_dm=True
        )
        assert "Queued as job" in await bot.reply(first)
        alone = await bot.finished(await bot.next_job())
        assert alone.state is JobState.DELIVERED
        assert alone.origin.direct and alone.origin.workspace_key == "discord:dm"
        dm = fake.dm_of(person)
        assert dm is not None and alone.origin.channel_id == str(dm)
        messages = fake.bot_messages_in(dm)
        assert [m.videos[0].filename for m in messages if m.videos] == [f"veo-{alone.id}.mp4"]
        assert fake.threads() == []
        assert f"https://discord.com/channels/@me/{dm}/" in " ".join(m.text() for m in messages)

        # Once they asked in a server, a DM counts there: the same day's 16 s.
        await bot.reply(
            await fake.slash("veo", {"prompt": "a harbour", "duration": 8}, user=person)
        )
        await bot.finished(await bot.next_job(1))
        second = await fake.slash(
            "veo", {"prompt": "a bell", "duration": 8}, user=person, in_dm=True
        )
        await bot.reply(second)
        in_dm = await bot.finished(await bot.next_job(2))
        assert in_dm.origin.workspace_id == str(fake.guild_id) and in_dm.origin.direct

        refused = await fake.slash(
            "veo", {"prompt": "a drum", "duration": 8}, user=person, in_dm=True
        )
        assert "you have 0 s of 16 s left today" in await bot.reply(refused)
        assert len(await bot.jobs()) == 3
        quota = await bot.reply(await fake.slash("veo-quota", user=person, in_dm=True))
        assert "Today you have used 16 s of video out of 16 s" in quota

        history = await bot.reply(await fake.slash("veo-history", user=person, in_dm=True))
        assert "a bell" in history and "a harbour" in history and "a lantern" not in history


async def test_the_commands_are_offered_in_dms_and_the_menu_is_not(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        commands = {c["name"]: c for scope in bot.fake.commands.values() for c in scope}
        for name in ("veo", "veo-quota", "veo-history"):
            assert commands[name]["contexts"] == [0, 1]
            assert commands[name]["integration_types"] == [0]
        assert commands["Animate with Veo"]["contexts"] == [0]
