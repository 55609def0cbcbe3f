"""Sentences about a video once asked for: its progress, its delivery, and the buttons under
it."""

from __future__ import annotations

from bot.models import Job, JobState, ResultLink
from bot.texts._markup import Markup, capitalised
from bot.texts._queue import queued_ahead, usually_takes

# --- the buttons under a video ------------------------------------------------------------


def delete_this_video() -> str:
    """The question before a video is deleted."""
    return "Delete this video?"


def deleting_removes_it() -> str:
    """The confirmation under Delete: what deleting does."""
    return "The video is removed from the thread for everyone."


def video_unknown() -> str:
    """Said on a button under a video whose job the bot no longer has."""
    return "That video is no longer known to the bot."


def video_gone() -> str:
    """Said on Delete when the video is not posted (or no longer known)."""
    return "That video is no longer here."


def cannot_extend() -> str:
    """Refusal of Extend when the provider no longer keeps the video."""
    return "That video can no longer be extended: the provider's copy is gone."


def delete_refused(requester_id: str, markup: Markup) -> str:
    """Refusal of Delete to someone who neither asked for the video nor is an admin."""
    return (
        f"Only {markup.mention(requester_id)}, who asked for this video, or an admin can delete it."
    )


def which_message_to_delete(markup: Markup) -> str:
    """Said when the platform did not say which message Delete was clicked on."""
    return f"{markup.name} did not say which message to delete."


def could_not_delete(markup: Markup) -> str:
    """Said when the platform refused to delete the video's message."""
    return f"{markup.name} did not let the bot delete the video; try again in a moment."


def deleted() -> str:
    """The answer to whoever deleted a video."""
    return "Deleted."


def deleted_by(user_id: str, markup: Markup) -> str:
    """The status card of a deleted video: who deleted it."""
    return f"Deleted by {markup.mention(user_id)}."


# --- progress and delivery ----------------------------------------------------------------

_HEADLINES = {
    JobState.QUEUED: "Queued",
    JobState.PENDING: "Queued",
    JobState.SUBMITTED: "Queued at the video provider",
    JobState.RUNNING: "Rendering",
    JobState.SUCCEEDED: "Posting the video",
    JobState.DELIVERING: "Posting the video",
    JobState.DELIVERED: "Done",
    JobState.FAILED: "Failed",
    JobState.TIMED_OUT: "Timed out",
    JobState.CANCELLED: "Cancelled",
}


def headline(state: JobState) -> str:
    """Where a job is, in a word or three, for its status card."""
    return _HEADLINES[state]


def queue_place(job: Job) -> str | None:
    """Where the job waits: at the bot for a slot of its requester's, or in the provider's
    queue, as a status line; None when not told."""
    if job.state is JobState.QUEUED and job.queue_position is not None:
        return queued_ahead(job.queue_position)
    note = job.queue_note
    return capitalised(note) if note else None


def usual_time(job: Job) -> str | None:
    """How long the job's model usually takes (`usually_takes`), while the job is at the
    provider and enough of the model's jobs have finished to say; else None."""
    if job.usual_minutes is None or not job.state.at_provider:
        return None
    low, high = job.usual_minutes
    return usually_takes(low, high)


def asked_for_a_video(user_id: str, prompt: str, markup: Markup) -> str:
    """The first line of a status card: who asked, and the prompt."""
    return f"{markup.mention(user_id)} asked for a video: “{markup.people(prompt)}”"


def done_in_the_thread() -> str:
    """The end of a done status card: where to find the video."""
    return "The video is in the thread."


def in_the_thread() -> str:
    """The link from a finished status card to its video."""
    return "In the thread"


def sent_privately(user_id: str, markup: Markup) -> str:
    """The status card of a video that went to its requester by DM instead."""
    return f"It could not be posted here, so it was sent to {markup.mention(user_id)} by DM."


def video_ready(user_id: str, markup: Markup) -> str:
    """The words over the posted video, mentioning the requester."""
    return f"{markup.mention(user_id)} your video is ready."


def too_large_to_upload(link: ResultLink, markup: Markup) -> str:
    """A video too large to upload even re-encoded, posted as a link that expires; the link
    comes last."""
    return (
        f"The video is too large to upload here, even compressed. Until "
        f"{markup.moment(link.expires_at)}, {markup.link(link.url, 'watch or download it here')}"
    )


def could_not_post_here(channel_id: str, markup: Markup) -> str:
    """The words with a video sent by DM because its channel or thread would not take it."""
    return (
        f"Your video is ready, but it could not be posted in {markup.channel(channel_id)} (the "
        "bot may have been removed from there, the channel archived, or the thread deleted or "
        "locked), so here it is."
    )


def posting_refused(status: int, code: int | None, markup: Markup) -> str:
    """Why Discord will not take the video, from its answer (HTTP status, error code)."""
    if status == 413 or code == 40005:
        return f"The video is larger than this {markup.workspace} lets the bot upload."
    if status == 403:
        return (
            f"The bot is no longer allowed to post here; a {markup.workspace} admin needs to "
            "check it."
        )
    if status == 404:
        return "The channel or thread for this video is gone."
    return f"{markup.name} refused the message with the video."


# What people can do about a Slack error code, in plain words; `posting_refused_by_slack`.
_SLACK_REFUSALS = {
    "not_in_channel": "The bot is not in this channel; invite it (`/invite`) and try again.",
    "channel_not_found": "The bot cannot see this channel; invite it (`/invite`) and try again.",
    "is_archived": "This channel is archived, so the bot cannot post here.",
    "restricted_action": "This workspace does not let the bot post here.",
    "invalid_auth": "The bot's Slack token was refused; an admin needs to check it.",
    "token_revoked": "The bot's Slack token was revoked; an admin needs to reinstall the app.",
    "account_inactive": "The bot's Slack token was revoked; an admin needs to reinstall the app.",
}


def posting_refused_by_slack(code: str | None) -> str | None:
    """What people can do about a Slack error code; None: nothing they can act on."""
    return _SLACK_REFUSALS.get(code or "")
