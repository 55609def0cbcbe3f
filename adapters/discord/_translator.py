"""Discord's command names, option names and descriptions in each reader's language: a
`discord.app_commands.Translator` over the bot's message catalogs (`bot.i18n`).

discord.py hands every command, group and option name and description to `translate` for each
Discord locale when the commands are registered. Descriptions are the sentences written in the
command decorators; names are looked up in the context `NAME_CONTEXT` (a name may be
translated otherwise than the same word in a sentence) and kept only when they satisfy
Discord's rules for names, else the English name stays."""

from __future__ import annotations

import re

from discord import Locale
from discord.app_commands import (
    ContextMenu,
    TranslationContextLocation,
    TranslationContextTypes,
    Translator,
    locale_str,
)

from bot import i18n
from bot.i18n import NC_

NAME_CONTEXT = "discord name"
# Discord's rule for slash command, group and option names (CHAT_INPUT): lowercase where a
# script has case, 1 to 32 characters, no spaces.
_NAME = re.compile(r"^[-_\w\u0900-\u097f\u0e00-\u0e7f]{1,32}$")
_CONTEXT_MENU_MAX = 32
_NAME_LOCATIONS = (
    TranslationContextLocation.command_name,
    TranslationContextLocation.group_name,
    TranslationContextLocation.parameter_name,
)

# Translators: the names of the bot's Discord commands and options. Discord requires them in
# lowercase, without spaces, at most 32 characters (hyphens and underscores are fine).
NAMES = (
    NC_("discord name", "veo"),
    NC_("discord name", "veo-quota"),
    NC_("discord name", "veo-history"),
    NC_("discord name", "veo-admin"),
    NC_("discord name", "prompt"),
    NC_("discord name", "image"),
    NC_("discord name", "end_image"),
    NC_("discord name", "model"),
    NC_("discord name", "duration"),
    NC_("discord name", "aspect_ratio"),
    NC_("discord name", "seed"),
    NC_("discord name", "negative_prompt"),
    NC_("discord name", "audio"),
    NC_("discord name", "private"),
    NC_("discord name", "limits"),
    NC_("discord name", "clear"),
    NC_("discord name", "reset"),
    NC_("discord name", "block"),
    NC_("discord name", "unblock"),
    NC_("discord name", "usage"),
    NC_("discord name", "chart"),
    NC_("discord name", "ban"),
    NC_("discord name", "unban"),
    NC_("discord name", "banned"),
    NC_("discord name", "language"),
    NC_("discord name", "channel"),
    NC_("discord name", "list"),
    NC_("discord name", "show"),
    NC_("discord name", "allow"),
    NC_("discord name", "close"),
    NC_("discord name", "set"),
    NC_("discord name", "user"),
    NC_("discord name", "daily"),
    NC_("discord name", "concurrent"),
    NC_("discord name", "monthly"),
    NC_("discord name", "daily_usd"),
    NC_("discord name", "monthly_usd"),
    NC_("discord name", "term"),
    NC_("discord name", "everywhere"),
    NC_("discord name", "aspect"),
    NC_("discord name", "people"),
    NC_("discord name", "setting"),
    NC_("discord name", "count"),
)


def valid_name(name: str) -> bool:
    """Whether Discord takes `name` as a slash command, group or option name."""
    return bool(_NAME.fullmatch(name)) and name == name.lower()


def shown_name(name: str) -> str:
    """A command or option `name` as the reader's Discord client shows it (the language in
    use), by the same rule as the names registered: for sentences that tell what to type."""
    said = i18n.pgettext(NAME_CONTEXT, name)
    return said if valid_name(said) else name


class CatalogTranslator(Translator):
    """Command names and descriptions from the bot's message catalogs."""

    async def translate(
        self, string: locale_str, locale: Locale, context: TranslationContextTypes
    ) -> str | None:
        """The text in `locale`; None (Discord shows the English) where the bot does not speak
        the language, the catalog has no translation, or a name breaks Discord's rules."""
        chosen = i18n.negotiate(locale.value)
        if chosen is None or chosen == i18n.DEFAULT:
            return None
        message = string.message
        if context.location is TranslationContextLocation.choice_name:
            return None  # choices are values typed as they are (allow_adult, model)
        with i18n.using(chosen):
            if isinstance(context.data, ContextMenu):
                said = i18n._(message)
                return said if said != message and len(said) <= _CONTEXT_MENU_MAX else None
            if context.location in _NAME_LOCATIONS:
                said = i18n.pgettext(NAME_CONTEXT, message)
                return said if said != message and valid_name(said) else None
            said = i18n._(message)
        return said if said != message else None
