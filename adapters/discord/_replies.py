"""How the bot answers the person behind an interaction, privately, and the one way any
failure reaches them: `answer_error`, hooked in as the command tree's `on_error` and called by
the buttons and modals, whose errors discord.py does not route there."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from bot.errors import reply_to

log = logging.getLogger(__name__)

Interaction = discord.Interaction[Any]


async def reply(interaction: Interaction, text: str) -> None:
    """Tell the person privately: in place of "thinking…" once acknowledged, else as the
    interaction's answer."""
    try:
        if interaction.response.is_done():
            await interaction.edit_original_response(content=text)
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except discord.HTTPException as exc:
        log.warning("could not answer interaction %s: %s", interaction.id, exc.status)


async def answer_error(interaction: Interaction, error: BaseException) -> None:
    """The catch-all: a refusal in its own words, anything else as a reference to the log."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    await reply(interaction, reply_to(error, during=f"discord interaction {interaction.id}"))
