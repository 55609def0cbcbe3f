"""Every Discord test puts discord.py's endpoints back after it (the adapter points them at the
fake)."""

from tests.discord.support import discord_endpoints  # noqa: F401 - an autouse fixture
