"""How a terminal writes what `bot.texts` cannot say in plain words, shared by `veo-bot try`,
`veo-bot history`/`info` and `veo-bot channel`."""

from __future__ import annotations

from bot.terminal import printable
from bot.texts import utc


class TerminalMarkup:
    """How a terminal writes what `bot.texts` cannot say in plain words: as plain text, times in
    UTC, and what people wrote made harmless to print (`bot.terminal.printable`)."""

    name = "the terminal"
    workspace = "workspace"
    in_this_workspace = "in this workspace"
    workspace_admins: str | None = None

    def mention(self, user_id: str) -> str:
        """A person: their id as it is."""
        return user_id

    def channel(self, channel_id: str) -> str:
        """A channel: `#` and its id, printable."""
        return f"#{printable(channel_id)}"

    def code(self, text: str) -> str:
        """Code: as it is."""
        return text

    def strong(self, text: str) -> str:
        """Emphasis: none in a terminal."""
        return text

    def moment(self, at: float) -> str:
        """A moment, in UTC."""
        return utc(at)

    def countdown(self, at: float) -> str:
        """A moment to come, in UTC."""
        return utc(at)

    def link(self, url: str, label: str) -> str:
        """A link: the label, then the URL."""
        return f"{label}: {url}"

    def people(self, text: str) -> str:
        """What people wrote, made harmless to print."""
        return printable(text)


TERMINAL = TerminalMarkup()
