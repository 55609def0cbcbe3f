"""`/veo-admin`: quotas, blocks, banned words and the usage report for one server.

Open to members with the Manage Server permission and to the Discord users listed in
VEO_ADMINS (`discord:<user id>`); everyone else is refused before anything changes. Those in
VEO_ADMINS speak as the bot's operator; a server's own admins only lower limits and share them
out inside the operator's caps (`bot.admin.AdminActions.set_limits`). The same actions as Slack's
`/veo admin …` and the `veo-bot quota|usage|banned` CLI. Every answer is ephemeral: limits and
words under discussion are nobody else's business.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands

from adapters.discord._replies import reply
from bot import admin as actions
from bot import moderation
from bot.admin import AdminActions, Admins, Member, Subject
from bot.errors import InvalidRequest
from bot.jobs import JobService
from bot.models import Actor, Authority
from bot.quota import MAX_CONCURRENT, MAX_LIMIT_S

log = logging.getLogger(__name__)

Interaction = discord.Interaction[Any]
PLATFORM = "discord"
NOT_ADMIN = (
    "Only this server's admins (Manage Server permission) and the bot's own admins can "
    "change quotas, blocks or banned words."
)
_TOP_USERS = 10


def member_of(interaction: Interaction) -> Member:
    """Who runs an interaction, in plain ids; Manage Server makes them a workspace admin."""
    if interaction.guild_id is None:
        raise InvalidRequest("Use this in a server channel: videos are posted into threads.")
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

    def bind(self, service: JobService) -> None:
        self._actions = AdminActions(
            service.store, defaults=service.config.limits, clock=service.clock
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

    async def run(
        self, interaction: Interaction, action: Callable[[str, Actor], Awaitable[str]]
    ) -> None:
        """Check the person, acknowledge privately, do `action(workspace, actor)`, answer."""
        actor = self.actor(interaction)
        if actor is None:
            log.info("refused /veo-admin to %s", interaction.user.id)
            await interaction.response.send_message(NOT_ADMIN, ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        workspace = f"{PLATFORM}:{interaction.guild_id}"
        # A failure goes to the command tree's catch-all (`_replies.answer_error`).
        await reply(interaction, await action(workspace, actor))

    # --- the actions (each takes the workspace key and the actor, returns the answer) -----

    async def set_limits(
        self,
        workspace: str,
        actor: Actor,
        user: discord.abc.User | None,
        *,
        daily: float | None,
        concurrent: int | None,
        monthly: float | None,
    ) -> str:
        subject = _subject(workspace, user)
        done = await self.actions.set_limits(
            actor, subject, daily_s=daily, concurrent=concurrent, monthly_s=monthly
        )
        if user is None:
            return "Limits set for this server: " + _describe(done) + "."
        return f"Limits set for {user.mention}: " + _describe(done) + "."

    async def clear_limits(
        self, workspace: str, actor: Actor, user: discord.abc.User | None
    ) -> str:
        outcome = await self.actions.clear_limits(actor, _subject(workspace, user))
        who = "this server" if user is None else user.mention
        if isinstance(outcome, actions.LimitsCleared):
            after = "the defaults" if outcome.by is Authority.OPERATOR else "the operator's"
            return f"Limits for {who} cleared; {after} apply again."
        return f"{who[0].upper()}{who[1:]} had no limits of its own."

    async def reset_day(self, workspace: str, actor: Actor, user: discord.abc.User) -> str:
        await self.actions.reset_day(actor, _user_key(workspace, user))
        return f"Today starts afresh for {user.mention}."

    async def set_blocked(self, workspace: str, user: discord.abc.User, blocked: bool) -> str:
        outcome = await self.actions.set_blocked(_user_key(workspace, user), blocked)
        verb = "blocked" if blocked else "unblocked"
        changed = isinstance(outcome, actions.Blocked | actions.Unblocked)
        return f"{user.mention} {verb}." if changed else f"{user.mention} was already {verb}."

    async def usage(self, workspace: str) -> str:
        report = await self.actions.usage(workspace_key=workspace)
        if not report.rows:
            return "No videos this month yet."
        lines = [
            f"<@{row.user_key.rsplit(':', 1)[-1]}>: {row.settled_s:g} s in {row.jobs} job(s)"
            + (f", {row.reserved_s:g} s in progress" if row.reserved_s else "")
            for row in report.rows[:_TOP_USERS]
        ]
        return f"This month: {report.total_s:g} s of video. Top users:\n" + "\n".join(lines)

    async def set_banned(self, workspace: str, term: str, banned: bool) -> str:
        outcome = await self.actions.set_banned(workspace, term, banned)
        match outcome:
            case actions.TermBanned():
                return "Banned on this server."
            case actions.TermAlreadyBanned():
                return "That was banned already."
            case actions.TermAllowed():
                return "Allowed again."
            case actions.TermNotBanned():
                return "That was not banned."

    async def banned(self, workspace: str) -> str:
        listed = await self.actions.banned_terms(workspace)
        if not listed.terms:
            return "Nothing is banned on this server."
        return "Banned here: " + ", ".join(_listed(term) for term in listed.terms)


def _listed(term: actions.BannedTerm) -> str:
    return f"`{term.term}`" + ("" if term.enforced else f" ({moderation.NOT_ENFORCED})")


def _subject(workspace: str, user: discord.abc.User | None) -> Subject:
    return (
        Subject.workspace(workspace) if user is None else Subject.user(_user_key(workspace, user))
    )


def _user_key(workspace: str, user: discord.abc.User) -> str:
    return f"{workspace}:{user.id}"


def _describe(limits: actions.LimitsSet) -> str:
    parts = []
    if limits.daily_s is not None:
        parts.append(f"{limits.daily_s:g} s a day")
    if limits.concurrent is not None:
        parts.append(f"{limits.concurrent} at a time")
    if limits.monthly_s is not None:
        parts.append(f"{limits.monthly_s:g} s a month")
    return ", ".join(parts) or "nothing"


def admin_group(admin: VeoAdmin) -> app_commands.Group:
    """`/veo-admin` and its subcommands. Visible to everyone who can use the bot (people
    listed in VEO_ADMINS may lack Manage Server); the check happens on every use."""
    group = app_commands.Group(
        name="veo-admin",
        description="Quotas, blocks and banned words (server admins)",
        guild_only=True,
    )

    @group.command(name="limits", description="Set a member's limits, or the server's")
    @app_commands.describe(
        user="The member (leave empty for the whole server)",
        daily="Seconds of video a day (per member)",
        concurrent="Videos in progress at once (per member)",
        monthly="Seconds of video a month for the whole server",
    )
    async def limits(
        interaction: Interaction,
        user: discord.User | None = None,
        daily: app_commands.Range[float, 0, MAX_LIMIT_S] | None = None,
        concurrent: app_commands.Range[int, 0, MAX_CONCURRENT] | None = None,
        monthly: app_commands.Range[float, 0, MAX_LIMIT_S] | None = None,
    ) -> None:
        await admin.run(
            interaction,
            lambda ws, by: admin.set_limits(
                ws, by, user, daily=daily, concurrent=concurrent, monthly=monthly
            ),
        )

    @group.command(name="clear", description="Back to the default limits")
    @app_commands.describe(user="The member (leave empty for the whole server)")
    async def clear(interaction: Interaction, user: discord.User | None = None) -> None:
        await admin.run(interaction, lambda ws, by: admin.clear_limits(ws, by, user))

    @group.command(name="reset", description="Give a member today's quota back")
    async def reset(interaction: Interaction, user: discord.User) -> None:
        await admin.run(interaction, lambda ws, by: admin.reset_day(ws, by, user))

    @group.command(name="block", description="Stop a member from making videos")
    async def block(interaction: Interaction, user: discord.User) -> None:
        await admin.run(interaction, lambda ws, _: admin.set_blocked(ws, user, True))

    @group.command(name="unblock", description="Let a blocked member make videos again")
    async def unblock(interaction: Interaction, user: discord.User) -> None:
        await admin.run(interaction, lambda ws, _: admin.set_blocked(ws, user, False))

    @group.command(name="usage", description="Seconds of video this month, top members first")
    async def usage(interaction: Interaction) -> None:
        await admin.run(interaction, lambda ws, _: admin.usage(ws))

    @group.command(name="ban", description="Refuse prompts with a word (or re:pattern)")
    @app_commands.describe(term="A word or phrase, or re:<regular expression>")
    async def ban(interaction: Interaction, term: str) -> None:
        await admin.run(interaction, lambda ws, _: admin.set_banned(ws, term, True))

    @group.command(name="unban", description="Allow a banned word again")
    async def unban(interaction: Interaction, term: str) -> None:
        await admin.run(interaction, lambda ws, _: admin.set_banned(ws, term, False))

    @group.command(name="banned", description="The words banned on this server")
    async def banned(interaction: Interaction) -> None:
        await admin.run(interaction, lambda ws, _: admin.banned(ws))

    return group
