"""Sentences about a video once asked for: its progress, its delivery, and the buttons under
it."""

from __future__ import annotations

from bot.i18n import N_, _, ngettext
from bot.models import Job, JobState, ResultLink
from bot.texts._markup import Markup, capitalised
from bot.texts._queue import queued_ahead, usually_takes

# --- the buttons under a video ------------------------------------------------------------


def delete_this_video() -> str:
    """The question before a video is deleted."""
    return _("Delete this video?")


def deleting_removes_it() -> str:
    """The confirmation under Delete: what deleting does."""
    return _("The video is removed from the thread for everyone.")


def video_unknown() -> str:
    """Said on a button under a video whose job the bot no longer has."""
    return _("That video is no longer known to the bot.")


def video_gone() -> str:
    """Said on Delete when the video is not posted (or no longer known)."""
    return _("That video is no longer here.")


def cannot_extend() -> str:
    """Refusal of Extend when the provider no longer keeps the video."""
    return _("That video can no longer be extended: the provider's copy is gone.")


def delete_refused(requester_id: str, markup: Markup) -> str:
    """Refusal of Delete to someone who neither asked for the video nor is an admin."""
    return _("Only {requester}, who asked for this video, or an admin can delete it.").format(
        requester=markup.mention(requester_id)
    )


def which_message_to_delete(markup: Markup) -> str:
    """Said when the platform did not say which message Delete was clicked on."""
    return _("{platform} did not say which message to delete.").format(platform=markup.name)


def could_not_delete(markup: Markup) -> str:
    """Said when the platform refused to delete the video's message."""
    return _("{platform} did not let the bot delete the video; try again in a moment.").format(
        platform=markup.name
    )


def deleted() -> str:
    """The answer to whoever deleted a video."""
    return _("Deleted.")


def deleted_by(user_id: str, markup: Markup) -> str:
    """The status card of a deleted video: who deleted it."""
    return _("Deleted by {person}.").format(person=markup.mention(user_id))


# --- progress and delivery ----------------------------------------------------------------

_HEADLINES = {
    JobState.QUEUED: N_("Queued"),
    JobState.PENDING: N_("Queued"),
    JobState.SUBMITTED: N_("Queued at the video provider"),
    JobState.RUNNING: N_("Rendering"),
    JobState.SUCCEEDED: N_("Posting the video"),
    JobState.DELIVERING: N_("Posting the video"),
    JobState.DELIVERED: N_("Done"),
    JobState.FAILED: N_("Failed"),
    JobState.TIMED_OUT: N_("Timed out"),
    JobState.CANCELLED: N_("Cancelled"),
}


def headline(state: JobState) -> str:
    """Where a job is, in a word or three, for its status card."""
    return _(_HEADLINES[state])


def queue_place(job: Job) -> str | None:
    """Where the job waits: at the bot for a slot of its requester's, or in the provider's
    queue, as a status line; None when not told."""
    if job.state is JobState.QUEUED and job.queue_position is not None:
        return queued_ahead(job.queue_position)
    note = queue_note(job)
    return capitalised(note) if note else None


def queue_note(job: Job) -> str | None:
    """Where the job waits in the provider's queue, within a line ("… · queued at the provider
    — 3 ahead"); None when not told (or while it waits at the bot)."""
    ahead = job.queue_position
    if ahead is None or job.state is JobState.QUEUED:
        return None
    if ahead <= 0:
        return _("next in line at the provider")
    return _("queued at the provider — {ahead} ahead").format(ahead=ahead)


def usual_time(job: Job) -> str | None:
    """How long the job's model usually takes (`usually_takes`), while the job is at the
    provider and enough of the model's jobs have finished to say; else None."""
    if job.usual_minutes is None or not job.state.at_provider:
        return None
    low, high = job.usual_minutes
    return usually_takes(low, high)


def asked_for_a_video(user_id: str, prompt: str, markup: Markup) -> str:
    """The first line of a status card: who asked, and the prompt."""
    return _("{person} asked for a video: “{prompt}”").format(
        person=markup.mention(user_id), prompt=markup.people(prompt)
    )


def done_in_the_thread() -> str:
    """The end of a done status card: where to find the video."""
    return _("The video is in the thread.")


def in_the_thread() -> str:
    """The link from a finished status card to its video."""
    return _("In the thread")


def sent_privately(user_id: str, markup: Markup) -> str:
    """The status card of a video that went to its requester by DM instead."""
    return _("It could not be posted here, so it was sent to {person} by DM.").format(
        person=markup.mention(user_id)
    )


def video_ready(user_id: str, markup: Markup) -> str:
    """The words over the posted video, mentioning the requester."""
    # The same sentence as several takes' (`bot.texts._variants.takes_ready`), for one.
    return ngettext(
        "{person} your video is ready.", "{person} your {made} videos are ready.", 1
    ).format(person=markup.mention(user_id), made=1)


def too_large_to_upload(link: ResultLink, markup: Markup) -> str:
    """A video too large to upload even re-encoded, posted as a link that expires; the link
    comes last."""
    return _(
        "The video is too large to upload here, even compressed. Until {moment}, {link}"
    ).format(
        moment=markup.moment(link.expires_at),
        link=markup.link(link.url, _("watch or download it here")),
    )


def could_not_post_here(channel_id: str, markup: Markup) -> str:
    """The words with a video sent by DM because its channel or thread would not take it."""
    return _(
        "Your video is ready, but it could not be posted in {channel} (the bot may have been "
        "removed from there, the channel archived, or the thread deleted or locked), so here "
        "it is."
    ).format(channel=markup.channel(channel_id))


def posting_refused(status: int, code: int | None, markup: Markup) -> str:
    """Why Discord will not take the video, from its answer (HTTP status, error code)."""
    if status == 413 or code == 40005:
        return _("The video is larger than this {workspace} lets the bot upload.").format(
            workspace=markup.workspace
        )
    if status == 403:
        return _(
            "The bot is no longer allowed to post here; a {workspace} admin needs to check it."
        ).format(workspace=markup.workspace)
    if status == 404:
        return _("The channel or thread for this video is gone.")
    return _("{platform} refused the message with the video.").format(platform=markup.name)


# What people can do about a Slack error code, in plain words; `posting_refused_by_slack`.
_SLACK_REFUSALS = {
    "not_in_channel": N_("The bot is not in this channel; invite it (`/invite`) and try again."),
    "channel_not_found": N_(
        "The bot cannot see this channel; invite it (`/invite`) and try again."
    ),
    "is_archived": N_("This channel is archived, so the bot cannot post here."),
    "restricted_action": N_("This workspace does not let the bot post here."),
    "invalid_auth": N_("The bot's Slack token was refused; an admin needs to check it."),
    "token_revoked": N_("The bot's Slack token was revoked; an admin needs to reinstall the app."),
    "account_inactive": N_(
        "The bot's Slack token was revoked; an admin needs to reinstall the app."
    ),
}


def posting_refused_by_slack(code: str | None) -> str | None:
    """What people can do about a Slack error code; None: nothing they can act on."""
    refusal = _SLACK_REFUSALS.get(code or "")
    return None if refusal is None else _(refusal)
