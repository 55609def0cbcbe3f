"""Each Slack user's language, as Slack knows it (`users.info` with `include_locale`), kept a
while per user so that a busy person costs one lookup per `ttl_s`, not one per click."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock

log = logging.getLogger(__name__)

LOCALE_TTL_S = 3600.0
# Past this many people the oldest readings are dropped (a huge workspace stays bounded).
MAX_PEOPLE = 10_000


class UserLocales:
    """Slack users' locales (`en-US`, `es-ES`), read through a cache."""

    def __init__(
        self, client: AsyncWebClient, clock: Clock, *, ttl_s: float = LOCALE_TTL_S
    ) -> None:
        self._client = client
        self._clock = clock
        self._ttl_s = ttl_s
        self._known: dict[str, tuple[float, str | None]] = {}

    async def of(self, user_id: str) -> str | None:
        """The person's Slack locale; None when Slack does not say (or cannot be asked)."""
        now = self._clock.now()
        known = self._known.get(user_id)
        if known is not None and now - known[0] < self._ttl_s:
            return known[1]
        try:
            answer = await self._client.users_info(user=user_id, include_locale=True)
        except SlackApiError as err:
            log.warning("users.info for %s failed: %s", user_id, err.response.get("error"))
            return known[1] if known is not None else None
        except OSError as err:
            log.warning("users.info for %s failed: %s", user_id, type(err).__name__)
            return known[1] if known is not None else None
        user = answer.get("user") or {}
        locale = user.get("locale") if isinstance(user, dict) else None
        if len(self._known) >= MAX_PEOPLE:
            self._known.pop(next(iter(self._known)))
        self._known[user_id] = (now, str(locale) if locale else None)
        return self._known[user_id][1]
