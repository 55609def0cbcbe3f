"""What the buttons under a video and the forms the bot opens ask of the bot, as a small
interface: `_commands.VeoCommands` implements it, `_buttons` and `_modals` depend on it. So the
modules that build buttons and forms never import the one that answers them, and no module of
this package imports one that imports it back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import discord

Interaction = discord.Interaction[Any]


@dataclass(frozen=True, slots=True)
class ModalFields:
    """What a person filled into the "Animate with Veo" form, as typed."""

    prompt: str
    model: str | None = None
    duration: str | None = None
    aspect_ratio: str | None = None
    seed: str | None = None


class VeoActions(Protocol):
    """The bot's side of a click on a button or a submitted form."""

    async def reroll(self, interaction: Interaction, job_id: str) -> None:
        """Re-roll: the same request with a new seed, charged to whoever clicked."""

    async def extend(self, interaction: Interaction, job_id: str) -> None:
        """Extend: ask for what happens next."""

    async def delete(self, interaction: Interaction, job_id: str) -> None:
        """Delete: remove the video, for the requester or an admin."""

    async def cancel(self, interaction: Interaction, job_id: str) -> None:
        """Cancel (on a status card): stop the job, for the requester or an admin."""

    async def info(self, interaction: Interaction, job_id: str) -> None:
        """Info: the video's parameters, privately."""

    async def post_to_channel(self, interaction: Interaction, job_id: str) -> None:
        """Post to channel (history): share the video where the history was asked for."""

    async def use_settings(self, interaction: Interaction, job_id: str) -> None:
        """Use these settings (history): the /veo form filled in with the job's settings."""

    async def older(self, interaction: Interaction, cursor: str) -> None:
        """Older (history): the next page."""

    async def settings_submitted(self, interaction: Interaction, fields: ModalFields) -> None:
        """The /veo form opened by Use these settings, sent back."""

    async def extend_submitted(self, interaction: Interaction, job_id: str, prompt: str) -> None:
        """The Extend form sent back with the continuation's prompt."""

    async def animate_submitted(
        self,
        interaction: Interaction,
        message: discord.Message,
        image: discord.Attachment,
        fields: ModalFields,
    ) -> None:
        """The "Animate with Veo" form sent back."""
