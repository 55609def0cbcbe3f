"""`/veo-admin`: quotas, blocks, banned words and the usage report for one server.

Open to members with the Manage Server permission and to the Discord users listed in
VEO_ADMINS (`discord:<user id>`); everyone else is refused before anything changes. Those in
VEO_ADMINS speak as the bot's operator; a server's own admins only lower limits and share them
out inside the operator's caps (`bot.admin.AdminActions.set_limits`). The same actions as Slack's
`/veo admin …` and the `veo-bot quota|usage|banned` CLI. Every answer is ephemeral: limits and
words under discussion are nobody else's business.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands

from adapters.discord._channels import ChannelAction, channel_group
from adapters.discord._markup import DISCORD
from adapters.discord._replies import reply
from adapters.discord._translator import shown_name
from bot import i18n, texts
from bot.admin import AdminActions, AdminOutcome, Admins, Member, Subject
from bot.channel_admin import ChannelActions
from bot.errors import InvalidRequest
from bot.i18n import N_
from bot.jobs import JobService
from bot.languages import Languages
from bot.models import Actor
from bot.money import MAX_LIMIT_USD
from bot.quota import MAX_CONCURRENT, MAX_LIMIT_S

log = logging.getLogger(__name__)

Interaction = discord.Interaction[Any]
PLATFORM = "discord"
# One admin action: the actions bound to the store, the workspace key and who asks.
Action = Callable[[AdminActions, str, Actor], Awaitable[AdminOutcome]]
_TOP_USERS = 10


def member_of(interaction: Interaction) -> Member:
    """Who runs an interaction, in plain ids; Manage Server makes them a workspace admin."""
    if interaction.guild_id is None:
        raise InvalidRequest(texts.use_in_a_channel(DISCORD))
    return Member(
        platform=PLATFORM,
        workspace_id=str(interaction.guild_id),
        user_id=str(interaction.user.id),
        manages_workspace=interaction.permissions.manage_guild,
    )


class VeoAdmin:
    """The actions behind `/veo-admin`; they are bound to the store when the adapter starts."""

    def __init__(self, admins: Admins) -> None:
        self.admins = admins
        self._actions: AdminActions | None = None
        self._channels: ChannelActions | None = None
        self._languages: Languages | None = None

    def bind(self, service: JobService) -> None:
        self._languages = service.languages
        self._actions = AdminActions(
            service.store, defaults=service.config.limits, clock=service.clock
        )
        self._channels = ChannelActions(
            service.store,
            catalog=service.catalog,
            providers=service.providers,
            default_provider=service.config.default_provider,
            default_model=service.config.default_model,
            clock=service.clock,
        )

    @property
    def actions(self) -> AdminActions:
        if self._actions is None:
            raise RuntimeError("the Discord adapter has not been started")
        return self._actions

    def actor(self, interaction: Interaction) -> Actor | None:
        """VEO_ADMINS speak as the operator; Manage Server makes a workspace admin only;
        None: not an admin (or not in a server)."""
        if interaction.guild_id is None:
            return None
        return self.admins.actor(member_of(interaction))

    async def run(self, interaction: Interaction, action: Action) -> None:
        """Check the person, acknowledge privately, do `action(actions, workspace, actor)`,
        tell them what it did."""
        actor = await self._admitted(interaction)
        if actor is None:
            return
        workspace = f"{PLATFORM}:{interaction.guild_id}"
        # A failure goes to the command tree's catch-all (`_replies.answer_error`).
        outcome = await action(self.actions, workspace, actor)
        await reply(interaction, texts.admin_answer(outcome, DISCORD, top=_TOP_USERS))

    async def run_channel(self, interaction: Interaction, action: ChannelAction) -> None:
        """`run` for the channel rules (`/veo-admin channel …`)."""
        actor = await self._admitted(interaction)
        if actor is None:
            return
        if self._channels is None:
            raise RuntimeError("the Discord adapter has not been started")
        outcome = await action(self._channels, f"{PLATFORM}:{interaction.guild_id}", actor)
        await reply(interaction, texts.channel_answer(outcome, DISCORD))

    async def language(self, interaction: Interaction, typed: str | None) -> None:
        """`/veo-admin language`: show the server's language, or fix it (`off`: each
        member's own again); the answer comes in the language now spoken."""
        actor = await self._admitted(interaction)
        if actor is None:
            return
        if self._languages is None:
            raise RuntimeError("the Discord adapter has not been started")
        workspace = f"{PLATFORM}:{interaction.guild_id}"
        if typed is None:
            shown = await self._languages.fixed(workspace)
            await reply(interaction, texts.language_shown(shown, DISCORD, _fix_language()))
            return
        fixed = await self._languages.set(actor, workspace, typed)
        with i18n.using(fixed or str(interaction.locale)):
            await reply(interaction, texts.language_fixed(fixed, DISCORD))

    async def _admitted(self, interaction: Interaction) -> Actor | None:
        """The admin's authority, the interaction acknowledged privately; None: refused."""
        actor = self.actor(interaction)
        if actor is None:
            log.info("refused /veo-admin to %s", interaction.user.id)
            await reply(interaction, texts.not_an_admin(DISCORD))
            return None
        await interaction.response.defer(ephemeral=True, thinking=True)
        return actor

    async def post_chart(self, interaction: Interaction) -> None:
        """The server's usage chart, to the admin who asked only: an ephemeral follow-up
        with the PNG (the "thinking…" answer says what it shows)."""
        actor = self.actor(interaction)
        if actor is None:
            log.info("refused /veo-admin chart to %s", interaction.user.id)
            await reply(interaction, texts.not_an_admin(DISCORD))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        chart = await self.actions.usage_chart(workspace_key=f"{PLATFORM}:{interaction.guild_id}")
        await reply(interaction, texts.usage_chart_caption(chart.month, chart.people))
        file = discord.File(io.BytesIO(chart.png), filename=chart.filename)
        await interaction.followup.send(file=file, ephemeral=True)


def _user_key(workspace: str, user: discord.abc.User) -> str:
    return f"{workspace}:{user.id}"


def _subject(workspace: str, user: discord.abc.User | None) -> Subject:
    return (
        Subject.workspace(workspace) if user is None else Subject.user(_user_key(workspace, user))
    )


def _fix_language() -> str:
    """`/veo-admin language language:de` with the names the reader's client shows."""
    admin, language = shown_name("veo-admin"), shown_name("language")
    return f"/{admin} {language} {language}:de"


def admin_group(admin: VeoAdmin) -> app_commands.Group:
    """`/veo-admin` and its subcommands. Visible to everyone who can use the bot (people
    listed in VEO_ADMINS may lack Manage Server); the check happens on every use."""
    group = app_commands.Group(
        name="veo-admin",
        description=N_("Quotas, blocks and banned words (server admins)"),
        guild_only=True,
    )

    @group.command(name="limits", description=N_("Set a member's limits, or the server's"))
    @app_commands.describe(
        user=N_("The member (leave empty for the whole server)"),
        daily=N_("Seconds of video a day (per member)"),
        concurrent=N_("Videos in progress at once (per member)"),
        monthly=N_("Seconds of video a month for the whole server"),
        daily_usd=N_("US dollars a day (per member); 0: no money limit"),
        monthly_usd=N_("US dollars a month for the whole server; 0: no money limit"),
    )
    async def limits(  # noqa: PLR0917 - one parameter per option
        interaction: Interaction,
        user: discord.User | None = None,
        daily: app_commands.Range[float, 0, MAX_LIMIT_S] | None = None,
        concurrent: app_commands.Range[int, 0, MAX_CONCURRENT] | None = None,
        monthly: app_commands.Range[float, 0, MAX_LIMIT_S] | None = None,
        daily_usd: app_commands.Range[float, 0, MAX_LIMIT_USD] | None = None,
        monthly_usd: app_commands.Range[float, 0, MAX_LIMIT_USD] | None = None,
    ) -> None:
        await admin.run(
            interaction,
            lambda actions, ws, by: actions.set_limits(
                by,
                _subject(ws, user),
                daily_s=daily,
                concurrent=concurrent,
                monthly_s=monthly,
                daily_usd=daily_usd,
                monthly_usd=monthly_usd,
            ),
        )

    @group.command(name="clear", description=N_("Back to the default limits"))
    @app_commands.describe(user=N_("The member (leave empty for the whole server)"))
    async def clear(interaction: Interaction, user: discord.User | None = None) -> None:
        await admin.run(
            interaction, lambda actions, ws, by: actions.clear_limits(by, _subject(ws, user))
        )

    @group.command(name="reset", description=N_("Give a member today's quota back"))
    async def reset(interaction: Interaction, user: discord.User) -> None:
        await admin.run(
            interaction, lambda actions, ws, by: actions.reset_day(by, _user_key(ws, user))
        )

    @group.command(name="block", description=N_("Stop a member from making videos"))
    async def block(interaction: Interaction, user: discord.User) -> None:
        await admin.run(
            interaction, lambda actions, ws, _: actions.set_blocked(_user_key(ws, user), True)
        )

    @group.command(name="unblock", description=N_("Let a blocked member make videos again"))
    async def unblock(interaction: Interaction, user: discord.User) -> None:
        await admin.run(
            interaction, lambda actions, ws, _: actions.set_blocked(_user_key(ws, user), False)
        )

    @group.command(name="usage", description=N_("Seconds and money this month, top members first"))
    async def usage(interaction: Interaction) -> None:
        await admin.run(interaction, lambda actions, ws, _: actions.usage(workspace_key=ws))

    @group.command(name="chart", description=N_("Spend per day and per member this month (image)"))
    async def chart(interaction: Interaction) -> None:
        await admin.post_chart(interaction)

    @group.command(name="ban", description=N_("Refuse prompts with a word (or re:pattern)"))
    @app_commands.describe(term=N_("A word or phrase, or re:<regular expression>"))
    async def ban(interaction: Interaction, term: str) -> None:
        await admin.run(interaction, lambda actions, ws, _: actions.set_banned(ws, term, True))

    @group.command(name="unban", description=N_("Allow a banned word again"))
    async def unban(interaction: Interaction, term: str) -> None:
        await admin.run(interaction, lambda actions, ws, _: actions.set_banned(ws, term, False))

    @group.command(name="banned", description=N_("The words banned on this server"))
    async def banned(interaction: Interaction) -> None:
        await admin.run(interaction, lambda actions, ws, _: actions.banned_terms(ws))

    @group.command(
        name="language",
        description=N_("The language the bot speaks on this server; off: each member's own"),
    )
    @app_commands.describe(
        language=N_("de, en, es, fr, ja, pt_BR, or off (leave empty to see the setting)")
    )
    async def language(interaction: Interaction, language: str | None = None) -> None:
        await admin.language(interaction, language)

    group.add_command(channel_group(admin))
    return group
