"""The buttons under a posted video: Re-roll, Extend, Delete, Info; and under a page of
history: Post to channel, Use these settings, Older.

They are `DynamicItem`s: the job id travels in the custom id (`veo:<action>:<job id>`), and
discord.py matches clicks against the templates registered at start-up, not against views
kept in memory, so the buttons keep working after the bot restarts.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Self

import discord

from adapters.discord._actions import VeoActions
from adapters.discord._client import VeoClient, speak_to
from adapters.discord._replies import answer_error
from bot import texts
from bot.i18n import N_, _

_JOB_ID = r"(?P<job_id>[0-9a-f]{1,64})"

Button = discord.ui.Button[discord.ui.View]


def reroll_custom_id(job_id: str) -> str:
    return f"veo:reroll:{job_id}"


def extend_custom_id(job_id: str) -> str:
    return f"veo:extend:{job_id}"


def delete_custom_id(job_id: str) -> str:
    """Also the mark `find_delivery` looks for: only a job's own video message carries it."""
    return f"veo:delete:{job_id}"


def info_custom_id(job_id: str) -> str:
    return f"veo:info:{job_id}"


def _actions(interaction: discord.Interaction[Any]) -> VeoActions:
    client = interaction.client
    if not isinstance(client, VeoClient):
        raise TypeError("veo buttons only work on the veo-bot client")
    return client.veo


class _JobButton(discord.ui.DynamicItem[Button], template=r"veo:(?P<action>[a-z]+):" + _JOB_ID):
    """A button about one job; subclasses name the action and what it looks like."""

    label: ClassVar[str]
    emoji: ClassVar[str]
    style: ClassVar[discord.ButtonStyle]
    action: ClassVar[str]

    def __init__(self, job_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=_(self.label),  # the class keeps the English msgid
                emoji=self.emoji,
                style=self.style,
                custom_id=f"veo:{self.action}:{job_id}",
            )
        )
        self.job_id = job_id

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        # discord.py only logs what a dynamic item's callback raises: the catch-all answers.
        try:
            await speak_to(interaction)
            await self.act(_actions(interaction), interaction)
        except Exception as error:
            await answer_error(interaction, error)

    async def act(self, veo: VeoActions, interaction: discord.Interaction[Any]) -> None:
        raise NotImplementedError

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Self:
        return cls(match["job_id"])


class RerollButton(_JobButton, template=reroll_custom_id(_JOB_ID)):
    """The same request with a new seed, charged to whoever clicks."""

    label, emoji, style, action = N_("Re-roll"), "🎲", discord.ButtonStyle.primary, "reroll"

    async def act(self, veo: VeoActions, interaction: discord.Interaction[Any]) -> None:
        await veo.reroll(interaction, self.job_id)


class ExtendButton(_JobButton, template=extend_custom_id(_JOB_ID)):
    """Continue the video with a new prompt (models that can extend their own results)."""

    label, emoji, style, action = (
        N_("Extend"),
        "\N{HEAVY PLUS SIGN}",
        discord.ButtonStyle.secondary,
        "extend",
    )

    async def act(self, veo: VeoActions, interaction: discord.Interaction[Any]) -> None:
        await veo.extend(interaction, self.job_id)


class DeleteButton(_JobButton, template=delete_custom_id(_JOB_ID)):
    """Remove the video message: the person who asked, or an admin."""

    label, emoji, style, action = N_("Delete"), "🗑️", discord.ButtonStyle.danger, "delete"

    async def act(self, veo: VeoActions, interaction: discord.Interaction[Any]) -> None:
        await veo.delete(interaction, self.job_id)


def cancel_custom_id(job_id: str) -> str:
    """Also the mark of a status card still under way (`find_status` looks for the card)."""
    return f"veo:cancel:{job_id}"


class CancelButton(_JobButton, template=cancel_custom_id(_JOB_ID)):
    """Stop the job (status card): the person who asked, or an admin."""

    label, emoji, style, action = (
        texts.cancel_label(),
        "\N{BLACK SQUARE FOR STOP}",
        discord.ButtonStyle.secondary,
        "cancel",
    )

    async def act(self, veo: VeoActions, interaction: discord.Interaction[Any]) -> None:
        await veo.cancel(interaction, self.job_id)


class InfoButton(_JobButton, template=info_custom_id(_JOB_ID)):
    """The video's parameters, privately, to whoever clicks."""

    label, emoji, style, action = (
        texts.info_label(),
        "\N{INFORMATION SOURCE}",
        discord.ButtonStyle.secondary,
        "info",
    )

    async def act(self, veo: VeoActions, interaction: discord.Interaction[Any]) -> None:
        await veo.info(interaction, self.job_id)


class PostButton(_JobButton, template=r"veo:post:" + _JOB_ID):
    """From a person's history: share the video in the channel the history was asked in."""

    label, emoji, style, action = (
        texts.post_to_channel_label(),
        "📣",
        discord.ButtonStyle.primary,
        "post",
    )

    async def act(self, veo: VeoActions, interaction: discord.Interaction[Any]) -> None:
        await veo.post_to_channel(interaction, self.job_id)


class SettingsButton(_JobButton, template=r"veo:settings:" + _JOB_ID):
    """From a person's history: the /veo form, filled in with that job's settings."""

    label, emoji, style, action = (
        texts.use_settings_label(),
        "📝",
        discord.ButtonStyle.secondary,
        "settings",
    )

    async def act(self, veo: VeoActions, interaction: discord.Interaction[Any]) -> None:
        await veo.use_settings(interaction, self.job_id)


_CURSOR = r"(?P<cursor>[0-9.e+-]{1,40}~[0-9a-f]{1,64})"


class OlderButton(discord.ui.DynamicItem[Button], template=r"veo:older:" + _CURSOR):
    """The next, older page of a person's history; the cursor travels in the custom id."""

    def __init__(self, cursor: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=texts.older_label(),
                style=discord.ButtonStyle.secondary,
                custom_id=f"veo:older:{cursor}",
            )
        )
        self.cursor = cursor

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await speak_to(interaction)
            await _actions(interaction).older(interaction, self.cursor)
        except Exception as error:
            await answer_error(interaction, error)

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Self:
        return cls(match["cursor"])


JOB_BUTTONS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (
    RerollButton,
    ExtendButton,
    DeleteButton,
    CancelButton,
    InfoButton,
    PostButton,
    SettingsButton,
    OlderButton,
)


def result_view(job_id: str, *, can_extend: bool) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(RerollButton(job_id))
    if can_extend:
        view.add_item(ExtendButton(job_id))
    view.add_item(DeleteButton(job_id))
    view.add_item(InfoButton(job_id))
    return view


def status_view(job_id: str) -> discord.ui.View:
    """Under a status card while the job is under way: Cancel."""
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job_id))
    return view


def info_view(job_id: str) -> discord.ui.View:
    """Under a video sent by DM: its parameters on request (the thread's buttons act there)."""
    view = discord.ui.View(timeout=None)
    view.add_item(InfoButton(job_id))
    return view


def history_view(job_ids: list[str], next_cursor: str | None) -> discord.ui.View:
    """Under a page of history: a row of buttons per video, and Older when there is more."""
    view = discord.ui.View(timeout=None)
    for row, job_id in enumerate(job_ids):
        for button in (
            PostButton(job_id),
            RerollButton(job_id),
            SettingsButton(job_id),
            InfoButton(job_id),
        ):
            button.item.row = row
            view.add_item(button)
    if next_cursor is not None:
        older = OlderButton(next_cursor)
        older.item.row = len(job_ids)
        view.add_item(older)
    return view
