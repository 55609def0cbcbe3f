"""discord.py's client as the bot uses it: only what interactions need, nothing cached that
the bot never reads; sharded, with the shards it connects chosen by `_shards.ShardKeeper`
(leases in the database) rather than all at start."""

from __future__ import annotations

import asyncio
import time

import discord
import discord.gateway
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


# Discord lets each of `max_concurrency` buckets (shard_id % max_concurrency) identify once
# per 5 seconds.
IDENTIFY_INTERVAL_S = 5.0


class VeoClient(discord.AutoShardedClient):
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
        # From `GET /gateway/bot` (session_start_limit), set by the shard keeper.
        self.max_concurrency = 1
        self._identified_at: dict[int, float] = {}
        self._identify_lock = asyncio.Lock()

    async def launch_shards(self) -> None:
        """`connect()` launches no shard: it only runs discord.py's queue of shard events,
        while the shard keeper connects and disconnects the shards this replica holds."""

    def set_shard_count(self, count: int) -> None:
        """The count every shard identifies with (`shard: [id, count]`)."""
        self.shard_count = count
        self._connection.shard_count = count
        if self.shard_ids is None:
            self.shard_ids = []
            self._connection.shard_ids = self.shard_ids

    async def connect_shard(self, shard_id: int) -> None:
        """Open the gateway connection of one shard (IDENTIFY), within Discord's identify
        rate; it is then kept (resumed, reconnected) by discord.py."""
        ids = sorted({*(self.shard_ids or []), shard_id})
        self.shard_ids = ids
        self._connection.shard_ids = ids
        await self.launch_shard(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY, shard_id)

    async def disconnect_shard(self, shard_id: int) -> None:
        """Close one shard's connection for good (its lease is someone else's now)."""
        ids = [s for s in self.shard_ids or [] if s != shard_id]
        self.shard_ids = ids
        self._connection.shard_ids = ids
        shard = self.get_shard(shard_id)
        if shard is not None:
            await shard.disconnect()

    def shard_connected(self, shard_id: int) -> bool:
        """Whether the shard's connection is open."""
        shard = self.get_shard(shard_id)
        return shard is not None and not shard.is_closed()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Wait for the shard's identify bucket (discord.py's own waits 5 s before every
        identify but the first, whatever max_concurrency allows)."""
        bucket = (shard_id or 0) % max(self.max_concurrency, 1)
        async with self._identify_lock:
            last = self._identified_at.get(bucket)
            if last is not None:
                await asyncio.sleep(max(0.0, last + IDENTIFY_INTERVAL_S - time.monotonic()))
            self._identified_at[bucket] = time.monotonic()
