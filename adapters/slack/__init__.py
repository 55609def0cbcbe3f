"""Slack: `/veo`, its modal, the "Animate with Veo" message shortcut and @mentions, answered
over HTTP events on the bot's web server or over Socket Mode (SLACK_APP_TOKEN).

The public face is `create_adapter(settings)`, which `bot.app` calls; the modules inside are
private: `_adapter` (bolt app and listeners), `_surface` (the core's `ChatSurface`), `_blocks`
(Block Kit), `_intake` (payloads and images in), `_errors` (slack_sdk errors out), `_admin`
(`/veo admin …`), `_markup` (how Slack writes `bot.texts`).

`manifest.json` next to this file creates the Slack app (command, shortcut, event, scopes) for
HTTP events: replace the example host. For Socket Mode set `socket_mode_enabled` to true, drop
the three URLs, and make an app-level token with `connections:write` (SLACK_APP_TOKEN).
"""

from __future__ import annotations

from adapters.slack._adapter import EVENTS_PATH, SlackAdapter
from bot.errors import ConfigurationError
from bot.i18n import _
from bot.settings import Settings

__all__ = ["EVENTS_PATH", "SlackAdapter", "create_adapter"]


def create_adapter(settings: Settings) -> SlackAdapter:
    """The Slack adapter for these settings: Socket Mode when SLACK_APP_TOKEN is set, else HTTP
    events at `POST /slack/events` checked with SLACK_SIGNING_SECRET."""
    if settings.slack_bot_token is None:
        raise ConfigurationError(_("Slack needs SLACK_BOT_TOKEN (the bot token, xoxb-…)."))
    if settings.slack_app_token is None and settings.slack_signing_secret is None:
        raise ConfigurationError(
            _(
                "Slack needs SLACK_SIGNING_SECRET (HTTP events at /slack/events) or "
                "SLACK_APP_TOKEN (Socket Mode)."
            )
        )
    return SlackAdapter(
        bot_token=settings.slack_bot_token,
        signing_secret=settings.slack_signing_secret,
        app_token=settings.slack_app_token,
        api_url=settings.slack_api_url,
        admins=settings.veo_admins,
    )
