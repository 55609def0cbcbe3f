"""The Discord adapter as the composition root runs it: endpoints applied, logged in, commands
registered once across replicas, this replica's share of the shards connected (leases in the
database, `_shards`), and closed cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging

import aiohttp
import discord
import discord.gateway
import discord.http
import yarl
from aiohttp import web

from adapters.discord._buttons import JOB_BUTTONS
from adapters.discord._client import VeoClient
from adapters.discord._commands import VeoCommands, register
from adapters.discord._shards import ShardKeeper
from adapters.discord._surface import PLATFORM, DiscordSurface
from adapters.discord._translator import CatalogTranslator
from bot.admin import Admins
from bot.errors import ConfigurationError
from bot.i18n import _
from bot.jobs import JobService
from bot.ports import ChatSurface
from bot.settings import Settings

log = logging.getLogger(__name__)

# discord.py's own gateway address, for a configuration without DISCORD_GATEWAY_URL.
_LIBRARY_GATEWAY = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
# Under this name the database keeps the hash of the commands last registered.
COMMANDS_DIGEST = "discord_commands"
# How long a replica that starts waits, once it has announced itself, before taking shards:
# replicas starting together then see each other and take their shares at once, instead of
# the first taking all and handing shards over. SQLite serves one replica: no wait.
SETTLE_MAX_S = 5.0


def apply_endpoints(api_base: str, gateway_url: str | None) -> None:
    """Point discord.py at DISCORD_API_BASE / DISCORD_GATEWAY_URL. It has no public setting
    for either: both are class attributes read on every request and connection (internal,
    so discord.py is pinned and a test checks they still exist). Interaction callbacks and
    follow-ups are built on the same `Route`, so they follow."""
    discord.http.Route.BASE = api_base.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = (
        yarl.URL(gateway_url) if gateway_url else _LIBRARY_GATEWAY
    )


class DiscordAdapter:
    """Discord as a chat adapter: the gateway connection, the app commands and the surface."""

    platform = PLATFORM

    def __init__(self, settings: Settings) -> None:
        if settings.discord_token is None:
            raise ConfigurationError(_("The Discord adapter needs DISCORD_TOKEN."))
        self._token = settings.discord_token
        self._api_base = settings.discord_api_base
        self._gateway_url = settings.discord_gateway_url
        self._guild_ids = list(settings.discord_guild_ids)
        self._client = VeoClient()
        self._surface = DiscordSurface(self._client)
        self.surface: ChatSurface = self._surface
        self._commands = VeoCommands(self._surface, admins=Admins(settings.veo_admins))
        register(self._client, self._commands)
        self._gateway: asyncio.Task[None] | None = None
        lone = settings.veo_database_url.startswith("sqlite")
        self.shards = ShardKeeper(
            self._client,
            configured_count=settings.discord_shard_count,
            renew_s=settings.discord_shard_renew_s,
            ttl_s=settings.discord_shard_ttl_s,
            settle_s=0.0 if lone else min(settings.discord_shard_renew_s, SETTLE_MAX_S),
        )

    def mount(self, app: web.Application) -> None:
        """Discord reaches the bot over the gateway websocket: no HTTP routes."""

    async def start(self, service: JobService) -> None:
        """Log in (a refused token is a `ConfigurationError`), register commands, connect."""
        apply_endpoints(self._api_base, self._gateway_url)
        self._commands.bind(service)
        self._surface.bind(service)
        self._client.languages = service.languages
        await self._client.tree.set_translator(CatalogTranslator())
        self._client.add_dynamic_items(*JOB_BUTTONS)
        try:
            await self._client.login(self._token.get_secret_value())
        except discord.LoginFailure:
            raise ConfigurationError(
                _(
                    "Discord refused DISCORD_TOKEN; copy the bot token again from the "
                    "Developer Portal (Bot -> Reset Token)."
                )
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise ConfigurationError(
                _("Could not reach Discord at DISCORD_API_BASE ({api_base}): {error}.").format(
                    api_base=self._api_base, error=type(exc).__name__
                )
            ) from None
        self._surface.logged_in.set()
        store = service.store
        try:
            synced = await store.sync_once(
                COMMANDS_DIGEST, self._commands_digest(), self._register_commands
            )
        except discord.HTTPException as exc:
            # Commands registered by an earlier run keep working; say what went wrong.
            log.error(
                "could not register the Discord commands: %s (code %s) %s",
                exc.status,
                exc.code,
                exc.text,
            )
        else:
            if not synced:
                log.info("the Discord commands are registered already (same set)")
        # discord.py's queue of shard events; the shard keeper connects the shards.
        self._gateway = asyncio.create_task(self._client.connect(reconnect=True), name="discord")
        self._gateway.add_done_callback(self._gateway_ended)
        await self.shards.start(store)

    def _commands_digest(self) -> str:
        """The hash of what registering would send: the application, where (globally or the
        guilds), and every command's payload. Another set, or another place: register anew."""
        tree = self._client.tree
        payload = {
            "application": self._client.application_id,
            "guilds": sorted(self._guild_ids),
            "commands": sorted(
                (command.to_dict(tree) for command in tree.get_commands()),
                key=lambda c: (c.get("type", 1), c["name"]),
            ),
        }
        encoded = json.dumps(payload, sort_keys=True, default=str).encode()
        return hashlib.sha256(encoded).hexdigest()

    async def _register_commands(self) -> None:
        """Globally (Discord spreads them within minutes), or at once to DISCORD_GUILD_IDS.
        An HTTP refusal raises, so that the set is not recorded as registered."""
        tree = self._client.tree
        if not self._guild_ids:
            synced = await tree.sync()
            log.info("registered %d Discord commands globally", len(synced))
        for guild_id in self._guild_ids:
            guild = discord.Object(guild_id)
            tree.copy_global_to(guild=guild)
            synced = await tree.sync(guild=guild)
            log.info("registered %d Discord commands in guild %s", len(synced), guild_id)

    def _gateway_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("the Discord gateway connection ended: %r", error)

    async def close(self) -> None:
        """Give the shards back, and disconnect from the gateway."""
        await self.shards.close()
        await self._client.close()
        if self._gateway is not None:
            with contextlib.suppress(Exception):
                await self._gateway  # connect() returns once the client is closed

    def healthy(self) -> bool:
        """Whether every shard this replica holds is connected (and the cache ready); a replica
        holding none (more replicas than shards) is healthy too."""
        if self._gateway is None or self._gateway.done():
            return False
        return not self.shards.held or (self._client.is_ready() and self.shards.connected())

    def health_details(self) -> dict[str, object]:
        """For /healthz: the shards this replica holds, of how many."""
        return {"shards": list(self.shards.held), "shard_count": self.shards.count}
