"""Variants (`count`): the form's hint, the one card with several takes, a Re-roll per take."""

from __future__ import annotations

from collections.abc import Sequence

from bot import i18n
from bot.i18n import _, ngettext
from bot.texts._markup import Markup


def takes_hint() -> str:
    """The hint under the form's field for the number of takes."""
    return _("Up to 4 takes at once; each one is charged.")


def takes_ready(user_id: str, markup: Markup, made: int) -> str:
    """The words over the one message that holds a request's takes, mentioning the requester."""
    return ngettext(
        "{person} your video is ready.",
        "{person} your {made} videos are ready.",
        made,
    ).format(person=markup.mention(user_id), made=made)


def takes_failed(numbers: Sequence[int], refunded_s: float) -> str:
    """Which takes (numbered from 1) could not be made, and that they were not charged."""
    listed = ", ".join(str(n) for n in numbers)
    return ngettext(
        "Take {takes} could not be made; its {seconds} s were refunded.",
        "Takes {takes} could not be made; their {seconds} s were refunded.",
        len(numbers),
    ).format(takes=listed, seconds=i18n.number(refunded_s))


def take_label(number: int) -> str:
    """A take's name on the card (numbered from 1)."""
    return _("Take {number}").format(number=number)


def reroll_take_label(number: int) -> str:
    """The button that makes one take again with a new seed."""
    return _("Re-roll {number}").format(number=number)


def take_link(number: int, url: str, expires_at: float, markup: Markup) -> str:
    """A take too large to upload even re-encoded, as a link that expires; the link last."""
    return _("Take {number} is too large to upload here. Until {when}, {link}").format(
        number=number,
        when=markup.moment(expires_at),
        link=markup.link(url, _("watch or download it here")),
    )


def takes_queued(count: int, total_s: float) -> str:
    """Said after the answer to an accepted request for several takes."""
    return _("You asked for {count} takes: {seconds} s are set aside for them in all.").format(
        count=count, seconds=i18n.number(total_s)
    )
