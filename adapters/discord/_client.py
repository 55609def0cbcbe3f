"""discord.py's client as the bot uses it: only what interactions need, nothing cached that
the bot never reads."""

from __future__ import annotations

import discord
from discord import app_commands

from adapters.discord._actions import VeoActions
from bot import i18n
from bot.languages import Languages


class LocalisedTree(app_commands.CommandTree["VeoClient"]):
    """The command tree: every command runs in its reader's language (`speak_to`)."""

    async def interaction_check(self, interaction: discord.Interaction[VeoClient]) -> bool:
        await speak_to(interaction)
        return True


async def speak_to(interaction: discord.Interaction[VeoClient]) -> str:
    """Speak the reader's language for the rest of this interaction (each runs in its own
    task): the one their server fixed, else their Discord client's (`interaction.locale`)."""
    personal = str(interaction.locale)
    languages = interaction.client.languages
    if interaction.guild_id is None or languages is None:
        return i18n.set_locale(personal)
    return i18n.set_locale(await languages.for_person(f"discord:{interaction.guild_id}", personal))


class VeoClient(discord.Client):
    # What buttons and forms ask of the bot; set when the commands are registered. Buttons
    # reach it through `interaction.client`, since discord.py builds them from their custom ids.
    veo: VeoActions
    # The languages servers fixed (`bot.languages`); set when the adapter starts.
    languages: Languages | None = None

    def __init__(self) -> None:
        # The bot never joins voice: no warnings about voice libraries it does not need.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        intents = discord.Intents.none()
        # GUILD_CREATE carries the channels and threads, so that an interaction's channel
        # resolves; nothing else (no message content, no members) is needed.
        intents.guilds = True
        super().__init__(
            intents=intents,
            max_messages=None,
            chunk_guilds_at_startup=False,
            member_cache_flags=discord.MemberCacheFlags.none(),
            # A longer 429 raises instead of sleeping, so the job is retried later rather
            # than holding a scheduler slot.
            max_ratelimit_timeout=30.0,
        )
        self.tree: app_commands.CommandTree[VeoClient] = LocalisedTree(self)
