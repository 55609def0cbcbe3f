"""How Slack writes what `bot.texts` cannot say in plain words (mrkdwn)."""

from __future__ import annotations

from bot.i18n import _
from bot.texts import utc


def escape(text: str) -> str:
    """Slack mrkdwn treats these three as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackMarkup:
    """Slack's `bot.texts.Markup`: mrkdwn mentions, code and bold, dates every reader sees in
    their own time zone (UTC where a client cannot), and labelled links."""

    name = "Slack"
    workspace_admins: str | None = None  # Slack does not say who runs a workspace

    @property
    def workspace(self) -> str:
        return _("workspace")

    @property
    def in_this_workspace(self) -> str:
        return _("in this workspace")

    def mention(self, user_id: str) -> str:
        return f"<@{user_id}>"

    def channel(self, channel_id: str) -> str:
        return f"<#{channel_id}>"

    def code(self, text: str) -> str:
        return f"`{text}`"

    def strong(self, text: str) -> str:
        return f"*{text}*"

    def moment(self, at: float) -> str:
        # Slack fills in {date_short_pretty} and {time} in each reader's time zone.
        shown = _("{date} at {time}").format(date="{date_short_pretty}", time="{time}")
        return f"<!date^{int(at)}^{shown}|{utc(at)}>"

    def countdown(self, at: float) -> str:
        return self.moment(at)  # Slack counts only backwards ({ago})

    def link(self, url: str, label: str) -> str:
        return f"<{url}|{escape(label)}>"

    def people(self, text: str) -> str:
        return escape(text)


SLACK = SlackMarkup()
