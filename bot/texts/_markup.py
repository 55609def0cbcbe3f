"""How a surface writes what plain words cannot (`Markup`), and the small helpers every
sentence shares."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from babel.lists import format_list

from bot import i18n
from bot.i18n import _

MIB = 1024 * 1024


class Markup(Protocol):
    """How one surface writes what plain words cannot, and what it calls a workspace."""

    # The platform's name as people know it ("Discord"). What a workspace is called there
    # ("server"), where things are in it ("on this server"), and how its own admins are known
    # ("Manage Server permission"; None: the platform does not say who they are): read-only,
    # so that a surface can give them in the reader's language.
    @property
    def name(self) -> str: ...

    @property
    def workspace(self) -> str: ...

    @property
    def in_this_workspace(self) -> str: ...

    @property
    def workspace_admins(self) -> str | None: ...

    def mention(self, user_id: str) -> str:
        """A person, as the platform shows them."""

    def channel(self, channel_id: str) -> str:
        """A channel, as the platform shows it."""

    def code(self, text: str) -> str:
        """A command, an id or a term, shown as code."""

    def strong(self, text: str) -> str:
        """Words to stand out (the platform may leave them as they are)."""

    def moment(self, at: float) -> str:
        """A point in time, shown in each reader's own time zone where the platform can."""

    def countdown(self, at: float) -> str:
        """A point in time to come, as "in 3 hours" where the platform can."""

    def link(self, url: str, label: str) -> str:
        """A link people can open, `label` saying what it is, written so that the platform
        fetches nothing to preview it. A platform may show the URL after the label: sentences
        end with the link."""

    def people(self, text: str) -> str:
        """Text people wrote (a prompt, a file name), made inert where the platform would
        read it as markup."""


def utc(at: float) -> str:
    """A moment in UTC, for platforms that cannot show each reader's own time."""
    return i18n.utc(at)


def seconds(value: float) -> str:
    """A duration in seconds as sentences write it: "8 s" (for the reader's locale)."""
    return i18n.seconds(value)


def number(value: float) -> str:
    """A number as the reader writes it."""
    return i18n.number(value)


def capitalised(text: str) -> str:
    """The text with its first letter upper-case, to start a sentence."""
    return text[:1].upper() + text[1:]


def joined(items: Sequence[str]) -> str:
    """Items in words: "a, b and c" (the reader's locale's way of listing)."""
    if i18n.current() != i18n.DEFAULT:
        return format_list(list(items), locale=i18n.babel_locale())
    if len(items) < 2:
        return items[0]
    return _("{items} and {last}").format(items=", ".join(items[:-1]), last=items[-1])


def user_id_of(user_key: str) -> str:
    """The platform's user id at the end of a user key, to mention the person."""
    return user_key.rsplit(":", 1)[-1]
