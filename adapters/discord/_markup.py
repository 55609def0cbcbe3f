"""How Discord writes what `bot.texts` cannot say in plain words."""

from __future__ import annotations

from bot.i18n import _

PLATFORM = "discord"


class DiscordMarkup:
    """Discord's `bot.texts.Markup`: mentions, code spans, timestamps every reader sees in
    their own time zone, and links written `<url>` so that nothing is fetched to preview
    them (the message keeps its own embed)."""

    name = "Discord"

    @property
    def workspace(self) -> str:
        return _("server")

    @property
    def in_this_workspace(self) -> str:
        return _("on this server")

    @property
    def workspace_admins(self) -> str | None:
        return _("Manage Server permission")

    def mention(self, user_id: str) -> str:
        return f"<@{user_id}>"

    def channel(self, channel_id: str) -> str:
        return f"<#{channel_id}>"

    def code(self, text: str) -> str:
        return f"`{text}`"

    def strong(self, text: str) -> str:
        return text  # the bot's answers on Discord have always been plain

    def moment(self, at: float) -> str:
        return f"<t:{int(at)}:f>"

    def countdown(self, at: float) -> str:
        return f"<t:{int(at)}:R>"

    def link(self, url: str, label: str) -> str:
        return f"{label}: <{url}>"

    def people(self, text: str) -> str:
        return text  # mentions in it never ping: every message sets allowed_mentions


DISCORD = DiscordMarkup()
