"""The one door every sentence a person reads goes through, so that it can be translated.

Write a sentence as `_("Queued — {ahead} ahead of you").format(ahead=...)`: the whole
sentence inside `_`, named placeholders filled after translation, never a sentence glued from
pieces. `ngettext(singular, plural, n)` picks the form for a count. Until the message catalogs
land these return the English they are given.
"""

from __future__ import annotations


def _(message: str) -> str:
    """`message` in the reader's language."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a sentence about `n` things, in the reader's language."""
    return singular if n == 1 else plural
