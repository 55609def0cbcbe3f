"""Channel rules on Slack: `/veo admin channel …` decides where `/veo` works and what each
channel sets by default; a closed channel refuses privately, saying where to go; bad values
change nothing."""

from __future__ import annotations

from pathlib import Path

from storage.sqlite import SqliteStore
from tests.fakes.slack import TEAM_ID
from tests.slack.support import SlackBot, running_bot

WORKSPACE = f"slack:{TEAM_ID}"


async def _answer(bot: SlackBot, text: str, *, user: str = "UADMIN", channel: str = "C1") -> str:
    seen = len(bot.fake.responses)
    await bot.command(text, user=user, channel=channel)
    replies = await bot.fake.wait_for(
        lambda: bot.fake.responses if len(bot.fake.responses) > seen else None
    )
    assert replies[-1]["response_type"] == "ephemeral"
    return str(replies[-1]["text"])


async def test_admins_open_a_list_of_channels_and_set_their_defaults(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        # Not an admin: refused, nothing changes.
        assert "Only the bot's admins" in await _answer(bot, "admin channel close all", user="U1")
        assert await store.channel_rules(WORKSPACE) == []

        assert await _answer(bot, "admin channel close all") == (
            "Every channel is closed but those you allow one by one. /veo works in no channel."
        )
        assert await _answer(bot, "admin channel allow <#CART|art>") == (
            "<#CART> is open to /veo. /veo works only in <#CART>."
        )
        # `here` is the channel the command is typed in.
        assert await _answer(bot, "admin channel allow here", channel="CFILM") == (
            "<#CFILM> is open to /veo. /veo works only in <#CART> and <#CFILM>."
        )
        refusal = await _answer(bot, "a fox in the snow", user="U1", channel="C1")
        assert refusal == "/veo does not work in this channel. Use it in <#CART> and <#CFILM>."
        assert await bot.jobs() == []

        said = await _answer(
            bot, "admin channel set <#CART> aspect=9:16 private=on daily=8 people=allow_adult"
        )
        assert said == "<#CART>: aspect 9:16, results private, 8 s a day, people allow_adult."
        await bot.command("a fox in the snow", user="U1", channel="CART")
        job = await bot.next_job()
        assert job.request.aspect_ratio == "9:16" and job.request.private is True
        assert job.request.extras == {"person_generation": "allow_adult"}
        over = await _answer(bot, "a second fox", user="U2", channel="CART")
        assert "this channel has 0 s of its 8 s for today left" in over
        assert len(await bot.jobs()) == 1

        listed = await _answer(bot, "admin channel list")
        assert listed.splitlines()[0] == "/veo works only in <#CART> and <#CFILM>."
        assert "<#CART>: aspect 9:16, results private, 8 s a day" in listed
        assert (await _answer(bot, "admin channel show CART")).startswith("/veo works in <#CART>")
        assert await _answer(bot, "admin channel reset <#CART> daily aspect") == (
            "Forgot daily, aspect for <#CART>."
        )
        assert await _answer(bot, "admin channel reset all") == (
            "Forgot every rule for every channel in this workspace."
        )
        assert await _answer(bot, "admin channel show C1") == (
            "/veo works in <#C1>: the bot's defaults."
        )


async def test_bad_channel_settings_get_a_specific_message_and_change_nothing(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        attempts = [
            ("set here aspect=4:3", "Scripted makes videos in 16:9, 9:16, not 4:3."),
            ("set here model=nope", "scripted has no model called 'nope'"),
            ("set all daily=NaN", "daily must be a number from 0"),
            ("set all daily=-5", "daily must be a number from 0"),
            ("set all daily=lots", "daily takes a number, not 'lots'"),
            ("set here private=maybe", "private takes on or off, not 'maybe'"),
            ("set here people=everyone", "people takes allow_adult, dont_allow, allow_all"),
            ("set here colour=red", "Channel settings look like"),
            ("set #general aspect=9:16", "Name a channel as #channel (or all), not '#general'"),
            ("reset here colour", "There is no channel setting called 'colour'"),
            ("frobnicate", "/veo admin channel list"),
        ]
        for typed, message in attempts:
            assert message in await _answer(bot, f"admin channel {typed}"), typed
        assert await store.channel_rules(WORKSPACE) == []
