"""The one door every sentence a person reads goes through, so that it can be translated.

Write a sentence as `_("Queued — {ahead} ahead of you").format(ahead=...)`: the whole
sentence inside `_`, named placeholders filled after translation, never a sentence glued from
pieces. `ngettext(singular, plural, n)` picks the form for a count. A sentence kept in a table
at import time is marked with `N_` (so `make messages` finds it) and passed through `_` where
it is read.

The reader's language is a `ContextVar` (`current()`, default English): an adapter sets it for
the request it handles (`using(locale)`), and work done later for a job (progress, delivery,
refunds) runs inside `using(job.locale)`. Catalogs are the committed `.po` files under
`bot/locale/`, compiled in memory the first time a language is read, so there is no build
step and no binary file in git. English is the source language: its "catalog" is the msgids.

Numbers, dates and durations are written for the reader's locale here (Babel); money is
`bot.money`'s, with the same locale.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DEFAULT = "en"
# The languages the bot speaks, as gettext names them (`bot/locale/<name>/`).
SUPPORTED = ("en", "de", "fr", "es", "pt_BR", "ja")
# A language asked for without (or with another) region, mapped to the one we have.
_BY_LANGUAGE = {name.split("_")[0]: name for name in SUPPORTED}

_current: ContextVar[str] = ContextVar("veo_locale", default=DEFAULT)


def negotiate(requested: str | None) -> str | None:
    """The supported locale for a platform's or environment's locale name (`de-DE`, `pt-BR`,
    `ja`, `de_DE.UTF-8`, `es-419`); None when the bot does not speak that language."""
    if not requested:
        return None
    name = re.split(r"[.@]", requested.strip(), maxsplit=1)[0].replace("-", "_")
    if not name or name in ("C", "POSIX"):
        return None
    language, _sep, region = name.partition("_")
    exact = f"{language.lower()}_{region.upper()}" if region else language.lower()
    if exact in SUPPORTED:
        return exact
    return _BY_LANGUAGE.get(language.lower())


def negotiate_or_default(requested: str | None) -> str:
    """`negotiate`, English when the bot does not speak the language."""
    return negotiate(requested) or DEFAULT


def current() -> str:
    """The reader's locale, as gettext names it (`pt_BR`)."""
    return _current.get()


@contextmanager
def using(locale: str | None) -> Iterator[str]:
    """Speak `locale` (any spelling `negotiate` reads; None or unknown: English) inside the
    block."""
    chosen = negotiate_or_default(locale)
    token = _current.set(chosen)
    try:
        yield chosen
    finally:
        _current.reset(token)


def set_locale(locale: str | None) -> str:
    """Speak `locale` from now on in this context (a CLI run, an adapter's handler task)."""
    chosen = negotiate_or_default(locale)
    _current.set(chosen)
    return chosen


@cache
def translations(locale: str) -> NullTranslations:
    """The catalog of `locale`, compiled in memory from its `.po` file once."""
    path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if locale == DEFAULT or not path.is_file():
        return NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=locale)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled)


def _(message: str) -> str:
    """`message` in the reader's language."""
    return translations(current()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a sentence about `n` things, in the reader's language."""
    return translations(current()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """`message` in the reader's language, as meant in `context` (a command's name, where
    the same English word may be translated otherwise than in a sentence)."""
    return str(translations(current()).pgettext(context, message))


def NC_(context: str, message: str) -> str:
    """Mark `message` in `context` for the catalogs without translating it now."""
    del context
    return message


def N_(message: str) -> str:
    """Mark `message` for the catalogs without translating it now (tables built at import);
    pass it through `_` where it is read."""
    return message


def own_name(locale: str) -> str:
    """A language as its own speakers write it ("Deutsch", "日本語")."""
    return str(Locale.parse(locale).get_display_name(locale))


# --- numbers, dates and durations, for the reader's locale --------------------------------


def babel_locale() -> Locale:
    """The reader's locale as Babel's `Locale`."""
    return _babel_locale(current())


@cache
def _babel_locale(name: str) -> Locale:
    return Locale.parse(name)


def number(value: float, *, digits: int = 2) -> str:
    """A number as the reader writes it ("1234.5", "1234,5"), at most `digits` decimals, not
    grouped (a quota of 3600 s reads as typed)."""
    return format_decimal(round(value, digits), locale=babel_locale(), group_separator=False)


def fixed(value: float, places: int) -> str:
    """A number with exactly `places` decimals, as the reader writes it ("4.50", "4,50")."""
    pattern = "0." + "0" * places if places else "0"
    return format_decimal(value, format=pattern, locale=babel_locale(), group_separator=False)


def whole(value: int) -> str:
    """A whole number with the reader's grouping ("1,000,000", "1.000.000")."""
    return format_decimal(value, locale=babel_locale())


def seconds(value: float) -> str:
    """A duration in seconds as sentences write it: "8 s", "7,5 s"."""
    return _("{seconds} s").format(seconds=number(value, digits=3))


def utc(at: float) -> str:
    """A moment in UTC, for platforms that cannot show each reader's own time:
    "2026-12-05 07:30 UTC" in English, the locale's short date and time elsewhere."""
    moment = datetime.fromtimestamp(at, UTC)
    if current() == DEFAULT:
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    return _("{moment} UTC").format(
        moment=format_datetime(moment, "short", tzinfo=UTC, locale=babel_locale())
    )
