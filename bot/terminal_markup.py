"""How a terminal writes what `bot.texts` cannot say in plain words, shared by `veo-bot try`,
`veo-bot history`/`info` and `veo-bot channel`."""

from __future__ import annotations

from bot.i18n import _
from bot.terminal import printable
from bot.texts import utc


class TerminalMarkup:
    """How a terminal writes what `bot.texts` cannot say in plain words: as plain text, times in
    UTC, and what people wrote made harmless to print (`bot.terminal.printable`)."""

    workspace_admins: str | None = None

    @property
    def name(self) -> str:
        """What the terminal is called in sentences."""
        return _("the terminal")

    @property
    def workspace(self) -> str:
        """What a workspace is called."""
        return _("workspace")

    @property
    def in_this_workspace(self) -> str:
        """Where things are in a workspace."""
        return _("in this workspace")

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
