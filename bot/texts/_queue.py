"""Sentences about waiting and stopping: a job queued at the bot, how long a model usually
takes, and Cancel with what it did to the quota."""

from __future__ import annotations

from bot import i18n
from bot.i18n import _, ngettext
from bot.texts._markup import Markup


def queued_ahead(ahead: int) -> str:
    """Where a job waits at the bot for one of its requester's slots."""
    if ahead <= 0:
        return _("Queued — next in line")
    return ngettext("Queued — {ahead} ahead of you", "Queued — {ahead} ahead of you", ahead).format(
        ahead=ahead
    )


def waits_its_turn() -> str:
    """Said when a request is accepted to wait at the bot."""
    return _(
        "You already have as many videos in progress as you may have at once, so this one "
        "waits its turn; nothing is sent to the video provider until then, and you can cancel "
        "it from its card."
    )


def usually_takes(low_min: int, high_min: int) -> str:
    """How long the model's recent videos took, as a range of whole minutes."""
    if low_min >= high_min:
        return ngettext(
            "usually about {minutes} min", "usually about {minutes} min", high_min
        ).format(minutes=high_min)
    return _("usually {low}–{high} min").format(low=low_min, high=high_min)  # noqa: RUF001


def cancel_label() -> str:
    """The button on a status card that stops the job."""
    return _("Cancel")


def operator() -> str:
    """Who cancelled, when it was the bot's operator at the command line."""
    return _("the bot's operator")


def cancelled_refunded(who: str, cost_s: float) -> str:
    """A job stopped before it cost anything: queued, not yet sent, or stopped by the provider."""
    return _(
        "Cancelled by {who} — refunded: the {seconds} s it would have used were not charged."
    ).format(who=who, seconds=i18n.number(cost_s))


def cancelled_charged(who: str, cost_s: float) -> str:
    """A job stopped at a provider that cannot confirm it stopped: it counts."""
    return _(
        "Cancelled by {who} — charged: the video provider had already started it and did not "
        "confirm it stopped, so its {seconds} s count. No video will be posted."
    ).format(who=who, seconds=i18n.number(cost_s))


def cancelled_after_made(who: str, cost_s: float) -> str:
    """A job stopped after the provider had made the video: it counts, and is not posted."""
    return _(
        "Cancelled by {who} — charged: the video was already made, so its {seconds} s count. "
        "It will not be posted."
    ).format(who=who, seconds=i18n.number(cost_s))


def cancel_refused(requester_id: str, markup: Markup) -> str:
    """Refusal of Cancel to someone who neither asked for the video nor is an admin."""
    return _("Only {requester}, who asked for this video, or an admin can cancel it.").format(
        requester=markup.mention(requester_id)
    )


def nothing_to_cancel() -> str:
    """Cancel on a job that has already ended without being cancelled."""
    return _("This video has already finished; there is nothing to cancel.")


def too_late_to_cancel() -> str:
    """Cancel while the finished video is being posted."""
    return _("Too late to cancel: the video is already being posted, and its seconds count.")


def no_such_job(job_id: str) -> str:
    """Cancel (at the command line) of a job id the bot does not know."""
    return _("There is no job {job_id}.").format(job_id=job_id)
