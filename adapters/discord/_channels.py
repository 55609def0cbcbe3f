"""`/veo-admin channel …`: where `/veo` works on the server, and each channel's defaults
(`bot.channel_admin`, the same actions as Slack's `/veo admin channel …` and the
`veo-bot channel …` CLI). A channel left out means the one the command is typed in (a thread:
the channel it is in); `everywhere` speaks for every channel of the server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import discord
from discord import app_commands

from bot.channel_admin import ChannelActions, ChannelOutcome
from bot.channels import EVERY_CHANNEL, MAX_CHANNEL_DAILY_S, PERSON_GENERATION, SETTINGS
from bot.i18n import N_
from bot.models import Actor

Interaction = discord.Interaction[Any]
# One channel-rule action: the actions bound to the store, the workspace key and who asks.
ChannelAction = Callable[[ChannelActions, str, Actor], Awaitable[ChannelOutcome]]


class RunsChannelActions(Protocol):
    """What runs an action for an admin (`adapters.discord._admin.VeoAdmin`)."""

    async def run_channel(self, interaction: Interaction, action: ChannelAction) -> None:
        """Check the person, acknowledge privately, do `action`, tell them what it did."""
        ...


Channel = app_commands.AppCommandChannel
_PEOPLE = [app_commands.Choice(name=value, value=value) for value in PERSON_GENERATION]
_SETTINGS = [app_commands.Choice(name=value, value=value) for value in SETTINGS]
_CHANNEL = N_("The channel (leave empty for this one)")
_EVERYWHERE = N_("Every channel of the server instead")


def _where(interaction: Interaction, channel: Channel | None, everywhere: bool | None) -> str:
    """The channel id an action is about."""
    if everywhere:
        return EVERY_CHANNEL
    if channel is not None:
        return str(channel.id)
    here = interaction.channel
    if isinstance(here, discord.Thread) and here.parent_id is not None:
        return str(here.parent_id)
    return str(interaction.channel_id)


def channel_group(admin: RunsChannelActions) -> app_commands.Group:
    """`/veo-admin channel` and its subcommands."""
    group = app_commands.Group(
        name="channel", description=N_("Where /veo works, and each channel's defaults")
    )

    @group.command(name="list", description=N_("Where /veo works and every channel's rules"))
    async def listing(interaction: Interaction) -> None:
        await admin.run_channel(interaction, lambda actions, ws, _: actions.listing(ws))

    @group.command(name="show", description=N_("One channel as /veo sees it"))
    @app_commands.describe(channel=_CHANNEL)
    async def show(interaction: Interaction, channel: Channel | None = None) -> None:
        where = _where(interaction, channel, False)
        await admin.run_channel(interaction, lambda actions, ws, _: actions.show(ws, where))

    @group.command(name="allow", description=N_("Let /veo work in a channel (or everywhere)"))
    @app_commands.describe(channel=_CHANNEL, everywhere=_EVERYWHERE)
    async def allow(
        interaction: Interaction, channel: Channel | None = None, everywhere: bool = False
    ) -> None:
        where = _where(interaction, channel, everywhere)
        await admin.run_channel(interaction, lambda actions, ws, by: actions.allow(by, ws, where))

    @group.command(
        name="close", description=N_("Stop /veo in a channel (or everywhere not allowed)")
    )
    @app_commands.describe(channel=_CHANNEL, everywhere=_EVERYWHERE)
    async def close(
        interaction: Interaction, channel: Channel | None = None, everywhere: bool = False
    ) -> None:
        where = _where(interaction, channel, everywhere)
        await admin.run_channel(interaction, lambda actions, ws, by: actions.close(by, ws, where))

    @group.command(name="set", description=N_("A channel's defaults for /veo"))
    @app_commands.describe(
        channel=_CHANNEL,
        everywhere=_EVERYWHERE,
        model=N_("Default model (provider/model)"),
        aspect=N_("Default aspect ratio, one the model offers"),
        private=N_("Results go to the requester alone"),
        daily=N_("Seconds of video a day for the whole channel"),
        people=N_("Whether videos may show people (Vertex AI)"),
    )
    @app_commands.choices(people=_PEOPLE)
    async def configure(  # noqa: PLR0917 - the signature is the command
        interaction: Interaction,
        channel: Channel | None = None,
        everywhere: bool = False,
        model: str | None = None,
        aspect: str | None = None,
        private: bool | None = None,
        daily: app_commands.Range[float, 0, MAX_CHANNEL_DAILY_S] | None = None,
        people: str | None = None,
    ) -> None:
        where = _where(interaction, channel, everywhere)
        await admin.run_channel(
            interaction,
            lambda actions, ws, by: actions.configure(
                by,
                ws,
                where,
                model=model,
                aspect=aspect,
                private=private,
                daily_s=daily,
                people=people,
            ),
        )

    @group.command(name="reset", description=N_("Forget a channel's rules, or one setting"))
    @app_commands.describe(
        channel=_CHANNEL, everywhere=_EVERYWHERE, setting=N_("Only this setting (else all)")
    )
    @app_commands.choices(setting=_SETTINGS)
    async def reset(
        interaction: Interaction,
        channel: Channel | None = None,
        everywhere: bool = False,
        setting: str | None = None,
    ) -> None:
        where = _where(interaction, channel, everywhere)
        named = (setting,) if setting else ()
        await admin.run_channel(
            interaction, lambda actions, ws, by: actions.reset(by, ws, where, named)
        )

    return group
