"""Banned words through the real surfaces: what a server admin can ban cannot stall the bot,
and what a member writes cannot slip past a ban by looking the same while spelled otherwise.

The bot here serves a Discord server (fake Discord) and a Slack workspace (fake Slack) from
one process, one core and one event loop, as `veo-bot run` does."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

import adapters.discord
import adapters.slack
from bot.jobs import JobService
from bot.models import Job
from bot.moderation import MAX_TERMS, REFUSAL
from bot.scheduler import Scheduler
from bot.settings import Settings
from storage.sqlite import SqliteStore
from tests.discord.support import discord_endpoints, settings_for
from tests.fakes._base import sample_mp4
from tests.fakes.discord import MANAGE_GUILD, MEMBER_PERMISSIONS, FakeDiscord, User
from tests.fakes.slack import TEAM_ID, FakeSlack
from tests.support import ScriptedProvider, eventually, make_service

__all__ = ["discord_endpoints"]  # the autouse fixture that puts discord.py's URLs back


@dataclass
class TwoTenants:
    """veo-bot serving one Discord server and one Slack workspace from one process."""

    discord: FakeDiscord
    slack: FakeSlack
    slack_events_url: str
    service: JobService
    store: SqliteStore

    async def jobs(self) -> list[Job]:
        return sorted(await self.store.recent_jobs(100), key=lambda j: j.created_at)

    async def discord_admin(self, action: str, options: dict[str, object], user: User) -> str:
        asked = await self.discord.slash(f"veo-admin {action}", options, user=user)
        return await self.discord.wait_for(asked.reply_text)

    async def discord_veo(self, prompt: str, user: User) -> str:
        asked = await self.discord.slash("veo", {"prompt": prompt}, user=user)
        return await self.discord.wait_for(asked.reply_text)

    async def slack_veo(self, text: str, *, user: str = "U1") -> str | None:
        """Run `/veo text`; the ephemeral answer when there is one (a refusal), else None
        once the job the command made is recorded."""
        responses, jobs = len(self.slack.responses), len(await self.jobs())
        payload = self.slack.command_payload(text, user=user)
        reply = await self.slack.send_command(self.slack_events_url, payload)
        assert reply.status == 200

        async def outcome() -> tuple[str | None] | None:
            if len(self.slack.responses) > responses:
                return (str(self.slack.responses[-1]["text"]),)
            return (None,) if len(await self.jobs()) > jobs else None

        [said] = await eventually(outcome)
        return said


@contextlib.asynccontextmanager
async def two_tenants(store: SqliteStore, tmp_path: Path) -> AsyncIterator[TwoTenants]:
    async with contextlib.AsyncExitStack() as stack:
        discord_fake = await stack.enter_async_context(FakeDiscord())
        slack_fake = await stack.enter_async_context(FakeSlack())
        on_discord = adapters.discord.create_adapter(settings_for(discord_fake, veo_admins=[]))
        on_slack = adapters.slack.create_adapter(
            Settings(
                _env_file=None,
                slack_bot_token=slack_fake.bot_token,
                slack_signing_secret=slack_fake.signing_secret,
                slack_api_url=slack_fake.api_url,
                veo_admins=["slack:UADMIN"],
            )
        )
        service = make_service(
            store,
            tmp_path,
            providers={"scripted": ScriptedProvider(video=sample_mp4())},
            surfaces={"discord": on_discord.surface, "slack": on_slack.surface},
        )
        app = web.Application()
        on_slack.mount(app)
        runner = web.AppRunner(app)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        events_url = f"http://127.0.0.1:{runner.addresses[0][1]}{adapters.slack.EVENTS_PATH}"
        stack.push_async_callback(on_slack.close)
        stack.push_async_callback(on_discord.close)
        identified = discord_fake.identifies
        await on_discord.start(service)
        await discord_fake.wait_ready(identifies=identified + 1)
        await on_slack.start(service)
        scheduler = Scheduler(service, idle_s=0.05)
        stack.push_async_callback(scheduler.stop)
        await scheduler.start()
        yield TwoTenants(discord_fake, slack_fake, events_url, service, store)
        assert discord_fake.violations == []


# --- item: a pattern cannot stall the process -----------------------------------------------


@pytest.mark.timeout(30)  # Python's `re` takes minutes on this; RE2 a few microseconds
async def test_a_backtracking_pattern_from_a_server_admin_stalls_nobody(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with two_tenants(store, tmp_path) as bot:
        moderator = bot.discord.add_user(
            "moderator", permissions=MEMBER_PERMISSIONS | MANAGE_GUILD
        )  # a server admin, not one of the bot's
        member = bot.discord.add_user("member")
        said = await bot.discord_admin("ban", {"term": "re:(a+)+$"}, moderator)
        assert said == "Banned on this server."

        # The prompt that makes a backtracking engine try every way to split 30 "a"s.
        answered = await bot.discord_veo("a" * 30 + "!", member)
        assert REFUSAL not in answered
        # Meanwhile another tenant, on Slack, is served as usual.
        assert await bot.slack_veo("a calm sea at dawn") is None
        done = [await bot.service.wait_until_done(job.id) for job in await bot.jobs()]
        assert sorted((job.origin.platform, job.request.prompt) for job in done) == [
            ("discord", "a" * 30 + "!"),
            ("slack", "a calm sea at dawn"),
        ]
        # The pattern still works as a pattern.
        assert REFUSAL in await bot.discord_veo("a" * 30, member)


async def test_terms_per_server_are_capped_and_patterns_re2_cannot_run_are_refused(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with two_tenants(store, tmp_path) as bot:
        moderator = bot.discord.add_user("moderator", permissions=MEMBER_PERMISSIONS | MANAGE_GUILD)
        workspace = f"discord:{bot.discord.guild_id}"
        for refused, why in (
            ("re:(a)\\1", "RE2 has no back-references"),
            ("re:(?<!x)gore", "invalid perl operator: (?<!"),
            ("re:a{2000}", "invalid repetition size"),
            ("x" * 201, "A banned term must be 1 to 200 characters."),
        ):
            assert why in await bot.discord_admin("ban", {"term": refused}, moderator)
        assert await store.banned_terms(workspace) == []

        for number in range(MAX_TERMS - 1):  # a server that has banned a lot already
            await store.set_banned_term(workspace, f"word{number:03}", True, now=0)
        assert await bot.discord_admin("ban", {"term": "last"}, moderator) == (
            "Banned on this server."
        )
        said = await bot.discord_admin("ban", {"term": "one more"}, moderator)
        assert said.startswith(f"This workspace already bans {MAX_TERMS} terms")
        assert len(await store.banned_terms(workspace)) == MAX_TERMS
        assert await bot.discord_admin("ban", {"term": "last"}, moderator) == (
            "That was banned already."
        )
        assert await bot.discord_admin("unban", {"term": "word000"}, moderator) == "Allowed again."
        assert await bot.discord_admin("ban", {"term": "one more"}, moderator) == (
            "Banned on this server."
        )


async def test_a_pattern_saved_before_re2_that_it_cannot_run_is_skipped_and_shown(
    store: SqliteStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with two_tenants(store, tmp_path) as bot:
        moderator = bot.discord.add_user("moderator", permissions=MEMBER_PERMISSIONS | MANAGE_GUILD)
        workspace = f"discord:{bot.discord.guild_id}"
        # Saved by an older veo-bot, which compiled patterns with Python's `re`.
        await store.set_banned_term(workspace, "re:(blood)\\s+\\1", True, now=0)
        await store.set_banned_term(workspace, "gore", True, now=0)

        with caplog.at_level(logging.WARNING, logger="bot.moderation"):
            assert REFUSAL in await bot.discord_veo("gore at noon", moderator)
            assert REFUSAL not in await bot.discord_veo("blood blood", moderator)
            assert REFUSAL not in await bot.discord_veo("a red sky", moderator)
        skipped = [r for r in caplog.records if "cannot be compiled by RE2" in r.getMessage()]
        assert len(skipped) == 1  # once, not on every request
        listed = await bot.discord_admin("banned", {}, moderator)
        assert listed == (
            "Banned here: `gore`, `re:(blood)\\s+\\1` (not enforced: RE2 cannot run it, replace it)"
        )
        assert len(await bot.jobs()) == 2


# --- item: look-alike spellings do not slip past a ban ---------------------------------------

# Each the banned words "gore" or "red wedding", written so that a plain matcher misses it.
BYPASSES = [
    "so much g\u200bore",  # zero-width space
    "so much go\u00adre",  # soft hyphen
    "so much g\u200dor\ufeffe",  # zero-width joiner, byte-order mark
    "so much g\u043ere",  # Cyrillic small o
    "SO MUCH G\u041eRE",  # Cyrillic capital O
    "so much g\u03bfre",  # Greek small omicron
    "so much \uff47\uff4f\uff52\uff45",  # full-width letters
    "so much \U0001d420\U0001d428\U0001d42b\U0001d41e",  # mathematical bold letters
    "so much g o r e",
    "so much g.o.r.e",
    "so much g-o-r-e",
    "so much g_o_r_e",
    "so much G . O . R . E",
    "a g o r e fest",
    "so much g\u0338o\u0338r\u0338e\u0338",  # strokes drawn through each letter
    "the red\u00a0wedding",  # no-break space
    "the r e d w e d d i n g",
    "the r\u200ced wedding",  # zero-width non-joiner
    "a bl\u200bood bath",  # the pattern runs on the normal form too
    "a \uff42\uff4c\uff4f\uff4f\uff44bath",
]
INNOCENT = [
    "go re-enter the lighthouse",
    "a gorey tale",
    "a red dress at a wedding",
    "Haritaya g\u00f6re yürü",  # Turkish "according to the map": a real ö, not a mark
    "g o l d e n hour over a lake",
    "the letters A B C on a blackboard",
    # "A bed by the window", in Russian: the word for bed starts like the banned word.
    "\u043a\u0440\u043e\u0432\u0430\u0442\u044c \u0443 \u043e\u043a\u043d\u0430",
]


async def test_look_alike_spellings_of_banned_words_are_refused_and_ordinary_prompts_pass(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with two_tenants(store, tmp_path) as bot:
        for term in ("gore", "red wedding", "re:blood\\s*bath", "\u043a\u0440\u043e\u0432\u044c"):
            said = await bot.slack_veo(f"admin ban {term}", user="UADMIN")
            assert said == "Banned in this workspace."

        for prompt in BYPASSES:
            assert await bot.slack_veo(prompt) == REFUSAL, prompt
        # A word in another script is matched in any case too ("blood", in Russian).
        assert await bot.slack_veo("\u041a\u0420\u041e\u0412\u042c") == REFUSAL
        assert await bot.jobs() == []

        for prompt in INNOCENT:
            assert await bot.slack_veo(prompt) is None, prompt
        made = {job.request.prompt for job in await bot.jobs()}
        assert made == set(INNOCENT)
        assert {job.origin.workspace_id for job in await bot.jobs()} == {TEAM_ID}
