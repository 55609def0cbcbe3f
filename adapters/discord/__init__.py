"""Discord: `/veo`, `/veo-quota` and the "Animate with Veo" message command, through discord.py
app commands; status cards, threads and videos through ordinary bot messages.

The public face is `create_adapter(settings)`, which `bot.app.build_chat_adapters` calls when
DISCORD_TOKEN is set. The modules inside are private: `_commands` (interactions in),
`_surface` (the core's ChatSurface out), `_cards` (embeds), `_buttons` (persistent buttons),
`_modals`, `_actions` (what buttons and modals ask of `_commands`), `_replies` (private answers
and the catch-all for errors), `_markup` (how Discord writes `bot.texts`), `_client` and
`_adapter` (life cycle and endpoints).
"""

from __future__ import annotations

from adapters.discord._adapter import DiscordAdapter
from bot.settings import Settings

__all__ = ["DiscordAdapter", "create_adapter"]


def create_adapter(settings: Settings) -> DiscordAdapter:
    """The Discord adapter for these settings (DISCORD_TOKEN required), for `bot.app` to start."""
    return DiscordAdapter(settings)
