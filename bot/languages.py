"""Which language the bot speaks to a person: the one their workspace fixed, else their own.

A workspace's admins (and the operator) may fix a language for everyone in it (`/veo-admin
language de`, `/veo admin language de`, `veo-bot language WORKSPACE de`), or set it `off` to
follow each person's own again (Discord's interaction locale, Slack's user locale). The
setting is kept by the store (`Store.workspace_locale`) and read on every request, through a
short cache so that a busy workspace costs no query per click; a change made here is seen at
once, one made by another process within `ttl_s`.
"""

from __future__ import annotations

from bot import i18n
from bot.clock import Clock
from bot.errors import InvalidRequest
from bot.i18n import _
from bot.models import Actor, Authority
from bot.ports import Store

# What `off` may be typed as: follow each person's own language again.
OFF = frozenset({"off", "none", "auto", "default"})
CACHE_TTL_S = 60.0


def parse_language(typed: str) -> str | None:
    """A language as typed (`de`, `pt-BR`, `ja_JP`) as the bot names it; None for `off`.
    Refuses, in plain words, one the bot does not speak."""
    word = typed.strip()
    if word.lower() in OFF:
        return None
    chosen = i18n.negotiate(word)
    if chosen is None:
        raise InvalidRequest(
            _("The bot does not speak {typed}. Choose one of {languages}, or off.").format(
                typed=repr(typed), languages=", ".join(sorted(i18n.SUPPORTED))
            )
        )
    return chosen


class Languages:
    """The workspaces' fixed languages, read through a cache, and the admin action that
    fixes one."""

    def __init__(self, store: Store, clock: Clock, *, ttl_s: float = CACHE_TTL_S) -> None:
        self._store = store
        self._clock = clock
        self._ttl_s = ttl_s
        self._cache: dict[str, tuple[float, str | None]] = {}

    async def fixed(self, workspace_key: str) -> str | None:
        """The language `workspace_key` fixed for everyone; None: each person's own."""
        now = self._clock.now()
        cached = self._cache.get(workspace_key)
        if cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        locale = await self._store.workspace_locale(workspace_key)
        self._cache[workspace_key] = (now, locale)
        return locale

    async def for_person(self, workspace_key: str, personal: str | None) -> str:
        """The language to speak to someone in `workspace_key` whose own is `personal`."""
        return await self.fixed(workspace_key) or i18n.negotiate_or_default(personal)

    async def set(self, actor: Actor, workspace_key: str, typed: str) -> str | None:
        """Fix `workspace_key`'s language (`typed`: a language, or `off`); the language now
        fixed, None when each person's own is followed again."""
        if actor.authority is Authority.WORKSPACE_ADMIN and actor.workspace_key != workspace_key:
            raise InvalidRequest(_("You can change the language of your own workspace only."))
        locale = parse_language(typed)
        now = self._clock.now()
        await self._store.set_workspace_locale(workspace_key, locale, now=now)
        self._cache[workspace_key] = (now, locale)
        return locale
