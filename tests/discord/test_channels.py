"""Channel rules on Discord: `/veo-admin channel …` decides where `/veo` works and what each
channel sets by default; a closed channel refuses privately, saying where to go; bad values
change nothing."""

from __future__ import annotations

from pathlib import Path

from bot.channels import EVERY_CHANNEL
from storage.sqlite import SqliteStore
from tests.discord.support import running_bot
from tests.fakes.discord import EPHEMERAL, MANAGE_GUILD, MEMBER_PERMISSIONS, User


async def test_admins_open_a_list_of_channels_and_set_their_defaults(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path, start_scheduler=False) as bot:
        fake = bot.fake
        member = fake.add_user("member")
        moderator = fake.add_user("moderator", permissions=MEMBER_PERMISSIONS | MANAGE_GUILD)
        art = fake.add_channel("art")
        general = fake.channel_id
        workspace = f"discord:{fake.guild_id}"

        async def admin(action: str, options: dict[str, object], user: User = moderator) -> str:
            asked = await fake.slash(f"veo-admin channel {action}", options, user=user)
            text = await bot.reply(asked)
            assert asked.callbacks[0]["data"]["flags"] & EPHEMERAL
            return text

        async def veo(prompt: str, channel: int, **options: object) -> tuple[str, int]:
            asked = await fake.slash(
                "veo", {"prompt": prompt, **options}, user=member, channel_id=channel
            )
            text = await bot.reply(asked)
            assert asked.callbacks[0]["data"]["flags"] & EPHEMERAL
            return text, len(await bot.jobs())

        # Not an admin: refused, nothing changes.
        assert "Only this server's admins" in await admin("close", {"everywhere": True}, member)
        assert await store.channel_rules(workspace) == []

        said = await admin("close", {"everywhere": True})
        assert (
            said
            == "Every channel is closed but those you allow one by one. /veo works in no channel."
        )
        said = await admin("allow", {"channel": art})
        assert said == f"<#{art}> is open to /veo. /veo works only in <#{art}>."
        assert await admin("allow", {"channel": art}) == (
            f"<#{art}> was open already. /veo works only in <#{art}>."
        )

        refusal, jobs = await veo("a fox", general)
        assert refusal == f"/veo does not work in this channel. Use it in <#{art}>."
        assert jobs == 0

        said = await admin(
            "set",
            {
                "channel": art,
                "aspect": "9:16",
                "private": True,
                "daily": 12,
                "people": "dont_allow",
            },
        )
        assert said == f"<#{art}>: aspect 9:16, results private, 12 s a day, people dont_allow."
        _, jobs = await veo("a fox", art, duration=8)
        assert jobs == 1
        [job] = await bot.jobs()
        assert job.request.aspect_ratio == "9:16" and job.request.private is True
        assert job.request.extras == {"person_generation": "dont_allow"}
        assert job.origin.channel_id == str(art)

        # The person's own choice wins over the channel's default.
        over, jobs = await veo("a hare", art, duration=8, aspect_ratio="16:9")
        assert "this channel has 4 s of its 12 s for today left" in over
        assert jobs == 1
        _, jobs = await veo("a hare", art, duration=4, aspect_ratio="16:9")
        assert jobs == 2
        assert (await bot.jobs())[1].request.aspect_ratio == "16:9"

        shown = await admin("show", {"channel": art})
        assert shown.startswith(f"/veo works in <#{art}>: ")
        assert shown.endswith("Today: 12 s of 12 s used.")
        listed = await admin("list", {})
        assert listed.startswith(f"/veo works only in <#{art}>.")

        # Back to every channel; the rules of #art stay until reset.
        said = await admin("allow", {"everywhere": True})
        assert said.startswith("Every channel is open again. /veo works in every channel")
        assert "people dont_allow" in await admin("show", {"channel": art})
        assert await admin("reset", {"channel": art, "setting": "people"}) == (
            f"Forgot people for <#{art}>."
        )
        assert await admin("reset", {"channel": art}) == f"Forgot every rule for <#{art}>."
        assert await store.channel_rules(workspace) == []
        _, jobs = await veo("a fox", general, duration=4)
        assert jobs == 3


async def test_bad_channel_settings_get_a_specific_message_and_change_nothing(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path, start_scheduler=False) as bot:
        fake = bot.fake
        moderator = fake.add_user("moderator", permissions=MEMBER_PERMISSIONS | MANAGE_GUILD)
        workspace = f"discord:{fake.guild_id}"

        async def admin(action: str, options: dict[str, object]) -> str:
            asked = await fake.slash(f"veo-admin channel {action}", options, user=moderator)
            return await bot.reply(asked)

        attempts: list[tuple[dict[str, object], str]] = [
            ({"aspect": "4:3"}, "Scripted makes videos in 16:9, 9:16, not 4:3."),
            ({"model": "nope"}, "scripted has no model called 'nope'"),
            ({"model": "scripted-1", "aspect": "1:1"}, "not 1:1"),
            ({"everywhere": True, "daily": float("nan")}, "daily must be a number from 0"),
            ({"daily": -1}, "daily must be a number from 0"),
            ({}, "Give at least one setting"),
        ]
        for options, message in attempts:
            assert message in await admin("set", options), options
        assert await store.channel_rules(workspace) == []
        # A setting the channel has and a model that lacks it: refused too.
        await admin("set", {"aspect": "9:16"})
        rules = await store.channel_rules(workspace)
        assert [rule.aspect_ratio for rule in rules] == ["9:16"]
        assert rules[0].channel_id not in (EVERY_CHANNEL, "")


async def test_a_re_roll_in_a_channel_closed_since_is_refused_privately(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        await bot.reply(await fake.slash("veo", {"prompt": "a paper boat", "duration": 4}))
        first = await bot.finished(await bot.next_job())
        video = await bot.video_message(first)
        moderator = fake.add_user("moderator", permissions=MEMBER_PERMISSIONS | MANAGE_GUILD)
        closed = await fake.slash(
            "veo-admin channel close", {"channel": fake.channel_id}, user=moderator
        )
        assert await bot.reply(closed) == (
            f"<#{fake.channel_id}> is closed to /veo. /veo works in every channel on this "
            f"server except <#{fake.channel_id}>."
        )

        # Clicked in the video's thread: the thread follows its channel.
        click = await fake.click(video, "Re-roll")
        assert await bot.reply(click) == (
            "/veo does not work in this channel. It works in every other channel here except "
            f"<#{fake.channel_id}>."
        )
        assert click.callbacks[0]["data"]["flags"] & EPHEMERAL
        assert len(await bot.jobs()) == 1
