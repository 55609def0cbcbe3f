"""Every sentence the chat surfaces say to people, in one place.

Each function takes plain data and returns the words. What differs between Discord and Slack is
only how a few things are written (a person, a channel, code, emphasis, a moment in time, a
link) and what a workspace is called: each surface passes its `Markup`, and adds nothing but
layout (embeds, Block Kit). This is where localisation plugs in: one catalog per language, the
same functions.

The sentences the core itself raises (refusals from the catalog, quotas, moderation, providers)
stay beside the rule they explain; these are the ones the surfaces used to write themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from bot import admin
from bot.catalog import InputKind, ModelSpec
from bot.jobs import QuotaReport
from bot.models import Authority, Job, JobState, ResultLink
from bot.moderation import NOT_ENFORCED

_MIB = 1024 * 1024


class Markup(Protocol):
    """How one surface writes what plain words cannot, and what it calls a workspace."""

    # The platform's name as people know it ("Discord").
    name: str
    # What a workspace is called there ("server"), where things are in it ("on this server"),
    # and how its own admins are known ("Manage Server permission"; None: the platform does
    # not say who they are).
    workspace: str
    in_this_workspace: str
    workspace_admins: str | None

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
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _names(items: Sequence[str]) -> str:
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else items[0]


def _user_id(user_key: str) -> str:
    return user_key.rsplit(":", 1)[-1]


# --- quota --------------------------------------------------------------------------------


def quota(report: QuotaReport, markup: Markup) -> str:
    """`/veo-quota` (Discord), `/veo quota` (Slack): used, left, when it resets, in flight."""
    lines = [
        f"Today you have used {markup.strong(_seconds(report.used_today_s))} of video out of "
        f"{_seconds(report.daily_limit_s)}: "
        f"{markup.strong(_seconds(report.remaining_today_s) + ' left')}. "
        f"It resets {markup.countdown(report.resets_at)}.",
        f"Videos in progress: {report.in_flight} of {report.concurrent_limit} at a time.",
    ]
    if report.workspace_monthly_limit_s > 0:
        lines.append(
            f"This {markup.workspace} has used {_seconds(report.workspace_used_month_s)} of its "
            f"{_seconds(report.workspace_monthly_limit_s)} this month."
        )
    return "\n".join(lines)


# --- asking for a video -------------------------------------------------------------------


def queued(job: Job, markup: Markup, *, new_thread: str | None) -> str:
    """The private answer to an accepted request; `new_thread`: the name of the thread its
    status card opens, when the request came from a channel."""
    request = job.request
    where = (
        f"in the thread “{markup.people(new_thread)}” under its status card"
        if new_thread is not None
        else "in the thread"
    )
    return (
        f"Queued as job {markup.code(job.id)}: {job.model}, {request.duration_s} s, "
        f"{request.aspect_ratio}. {job.cost_s:g} s of your daily quota are set aside and only "
        f"charged if the video arrives. Progress and the video will appear {where}."
    )


def use_in_a_channel(markup: Markup) -> str:
    return f"Use this in a {markup.workspace} channel: videos are posted into threads."


def missing_permissions(names: Sequence[str], markup: Markup) -> str:
    """The bot could not post the result here: the permissions it lacks in the channel."""
    several = len(names) > 1
    return (
        f"I can't post videos here: I need the {_names(names)} "
        f"permission{'s' if several else ''} in this channel. Ask a {markup.workspace} admin "
        f"to grant {'them' if several else 'it'}."
    )


def not_a_whole_number(what: str) -> str:
    return f"The {what} must be a whole number, like 8."


def image_too_large(name: str, size_bytes: int, max_bytes: int, markup: Markup) -> str:
    return f"{name} is {size_bytes / _MIB:.1f} MB; images may be at most {max_bytes / _MIB:.0f} MB."


def attachment_link_expired(name: str, markup: Markup) -> str:
    return f"The link to {name} has expired; attach it again."


def attachment_not_handed_over(name: str, markup: Markup) -> str:
    return f"{markup.name} did not hand over {name}; try again in a moment."


def image_took_too_long(markup: Markup) -> str:
    return f"{markup.name} took too long to hand over the image; submit again."


def what_should_happen() -> str:
    """The empty prompt field of a form."""
    return "What should happen in the video?"


def leave_empty_for_the_default() -> str:
    return "Leave empty for the model's default."


def same_seed_same_video() -> str:
    return "The same seed and settings give the same video."


def no_image_in_message(markup: Markup) -> str:
    """ "Animate with Veo" on a message without a picture."""
    return (
        f"That message holds no image. Use {markup.strong('Animate with Veo')} on a message "
        f"with a PNG, JPEG or WebP image, or attach one to {markup.code('/veo')}."
    )


def no_model_animates_images() -> str:
    return "None of this bot's video models animates images."


def one_or_two_images() -> str:
    return "Attach one image to animate, or two: the first and the last frame."


def form_did_not_open(markup: Markup) -> str:
    return f"{markup.name} did not let the form open; run {markup.code('/veo')} again."


# --- images kept by the platform ----------------------------------------------------------
#
# File names are written as they are: these refusals may be shown in a form field, which
# takes plain text, not markup.


def remote_file(name: str, markup: Markup) -> str:
    """A file that is only a link to somewhere outside the platform: never fetched."""
    return (
        f"{name} is a link to a file kept outside {markup.name}, so the bot will "
        f"not fetch it. Upload the image itself to {markup.name} and try again."
    )


def not_an_image(name: str, markup: Markup) -> str:
    return f"{name} is not a PNG, JPEG or WebP image."


def file_not_found(name: str, markup: Markup) -> str:
    return f"{name} could not be found in {markup.name}."


def file_not_on_platform_servers(name: str, markup: Markup) -> str:
    return (
        f"{name} is not stored on {markup.name}'s own file servers, so the bot "
        f"will not fetch it. Upload the image to {markup.name} and try again."
    )


def file_not_fetched(name: str, markup: Markup) -> str:
    return f"{name} could not be fetched from {markup.name}; try again."


def file_sent_elsewhere(name: str, markup: Markup) -> str:
    return (
        f"{markup.name} sent the download of {name} to a server outside "
        f"{markup.name}, so the bot stopped. Upload the image to {markup.name} again and retry."
    )


def file_withheld(name: str, markup: Markup) -> str:
    return (
        f"{markup.name} would not hand over {name} (it may have been deleted); "
        "share it again and retry."
    )


def file_redirected_too_often(name: str, markup: Markup) -> str:
    return f"{markup.name} kept redirecting the download of {name}; try again."


# --- the buttons under a video ------------------------------------------------------------


def delete_this_video() -> str:
    """The question before a video is deleted."""
    return "Delete this video?"


def deleting_removes_it() -> str:
    return "The video is removed from the thread for everyone."


def video_unknown() -> str:
    return "That video is no longer known to the bot."


def video_gone() -> str:
    return "That video is no longer here."


def cannot_extend() -> str:
    return "That video can no longer be extended: the provider's copy is gone."


def delete_refused(requester_id: str, markup: Markup) -> str:
    return (
        f"Only {markup.mention(requester_id)}, who asked for this video, or an admin can delete it."
    )


def which_message_to_delete(markup: Markup) -> str:
    return f"{markup.name} did not say which message to delete."


def could_not_delete(markup: Markup) -> str:
    return f"{markup.name} did not let the bot delete the video; try again in a moment."


def deleted() -> str:
    return "Deleted."


def deleted_by(user_id: str, markup: Markup) -> str:
    return f"Deleted by {markup.mention(user_id)}."


# --- progress and delivery ----------------------------------------------------------------

_HEADLINES = {
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
    """Where the job waits in the provider's queue, as a status line; None when not told."""
    note = job.queue_note
    return _cap(note) if note else None


def asked_for_a_video(user_id: str, prompt: str, markup: Markup) -> str:
    return f"{markup.mention(user_id)} asked for a video: “{markup.people(prompt)}”"


def done_in_the_thread() -> str:
    return "The video is in the thread."


def in_the_thread() -> str:
    """The link from a finished status card to its video."""
    return "In the thread"


def sent_privately(user_id: str, markup: Markup) -> str:
    """The status card of a video that went to its requester by DM instead."""
    return f"It could not be posted here, so it was sent to {markup.mention(user_id)} by DM."


def video_ready(user_id: str, markup: Markup) -> str:
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


# --- admins -------------------------------------------------------------------------------


def not_an_admin(markup: Markup) -> str:
    if markup.workspace_admins is None:
        return "Only the bot's admins (VEO_ADMINS) can change quotas, blocks or banned words."
    return (
        f"Only this {markup.workspace}'s admins ({markup.workspace_admins}) and the bot's own "
        "admins can change quotas, blocks or banned words."
    )


def _whose(subject: admin.Subject, markup: Markup) -> str:
    if subject.scope == "workspace":
        return f"this {markup.workspace}"
    return markup.mention(_user_id(subject.key))


def _limits(done: admin.LimitsSet) -> str:
    parts = []
    if done.daily_s is not None:
        parts.append(f"{done.daily_s:g} s a day")
    if done.concurrent is not None:
        parts.append(f"{done.concurrent} at a time")
    if done.monthly_s is not None:
        parts.append(f"{done.monthly_s:g} s a month")
    return ", ".join(parts) or "nothing"


def _term(term: admin.BannedTerm, markup: Markup) -> str:
    return markup.code(term.term) + ("" if term.enforced else f" ({NOT_ENFORCED})")


def admin_answer(outcome: admin.AdminOutcome, markup: Markup, *, top: int = 10) -> str:
    """What an admin action did, for the admin who asked; `top`: usage rows shown."""
    match outcome:
        case admin.LimitsSet(subject=subject):
            return f"Limits set for {_whose(subject, markup)}: {_limits(outcome)}."
        case admin.LimitsCleared(subject=subject, by=by):
            after = "the defaults" if by is Authority.OPERATOR else "the operator's"
            return f"Limits for {_whose(subject, markup)} cleared; {after} apply again."
        case admin.NothingToClear(subject=subject):
            return f"{_cap(_whose(subject, markup))} had no limits of its own."
        case admin.DayReset(user_key=key):
            return f"Today starts afresh for {markup.mention(_user_id(key))}."
        case admin.Blocked(user_key=key):
            return f"{markup.mention(_user_id(key))} blocked."
        case admin.AlreadyBlocked(user_key=key):
            return f"{markup.mention(_user_id(key))} was already blocked."
        case admin.Unblocked(user_key=key):
            return f"{markup.mention(_user_id(key))} unblocked."
        case admin.AlreadyUnblocked(user_key=key):
            return f"{markup.mention(_user_id(key))} was already unblocked."
        case admin.TermBanned():
            return f"Banned {markup.in_this_workspace}."
        case admin.TermAlreadyBanned():
            return "That was banned already."
        case admin.TermAllowed():
            return "Allowed again."
        case admin.TermNotBanned():
            return "That was not banned."
        case admin.BannedTerms(terms=terms):
            if not terms:
                return f"Nothing is banned {markup.in_this_workspace}."
            return "Banned here: " + ", ".join(_term(term, markup) for term in terms)
        case admin.UsageReport(rows=rows):
            if not rows:
                return "No videos this month yet."
            lines = [
                f"{markup.mention(_user_id(row.user_key))}: {row.settled_s:g} s in {row.jobs} "
                "job(s)" + (f", {row.reserved_s:g} s in progress" if row.reserved_s else "")
                for row in rows[:top]
            ]
            return f"This month: {outcome.total_s:g} s of video. Top users:\n" + "\n".join(lines)


def admin_commands(command: str, markup: Markup) -> str:
    """What `/veo admin` takes (Slack), for an admin who typed something else."""
    forms = (
        "limits @user daily=60 concurrent=3",
        "limits workspace monthly=3600 daily=40",
        "clear @user|workspace",
        "reset @user",
        "block @user",
        "unblock @user",
        "usage",
        "ban <word or re:pattern>",
        "unban <term>",
        "banned",
    )
    return " · ".join(markup.code(f"{command} admin {form}") for form in forms)


def name_a_person(typed: str) -> str:
    return f"Name a person as @someone, not {typed!r}."


def limits_look_like(typed: str) -> str:
    return f"Limits look like daily=60 concurrent=3 monthly=3600, not {typed!r}."


def limit_takes(name: str, whole: bool, typed: str) -> str:
    return f"{name} takes {'a whole number' if whole else 'a number'}, not {typed!r}."


# --- help ---------------------------------------------------------------------------------


def _inputs(spec: ModelSpec) -> str:
    kinds = []
    if spec.takes(InputKind.TEXT) and not spec.requires_image:
        kinds.append("text")
    if spec.takes(InputKind.FIRST_FRAME):
        kinds.append("an image")
    if spec.takes(InputKind.LAST_FRAME):
        kinds.append("first + last frame")
    return ", ".join(kinds) or "special inputs"


def help_text(
    command: str, choices: Sequence[ModelSpec], default: ModelSpec, markup: Markup
) -> str:
    """What the bot does and which models it offers (Slack's `/veo help`)."""
    lines = [
        markup.strong("Make a video"),
        f"• {markup.code(f'{command} a prompt')}: from text, with the default model.",
        f"• {markup.code(command)}: the form, with first and last frame, model, duration, "
        "aspect ratio, seed, negative prompt and sound.",
        f"• {markup.strong('Animate with Veo')} in a message's ⋮ menu: animate the image in "
        "that message; the video lands in its thread.",
        "• Mention the bot with a prompt and an image attached: the video lands in that thread.",
        f"• {markup.code(f'{command} quota')}: what you have left today.",
        "",
        markup.strong("Models"),
    ]
    for spec in choices:
        mark = " (default)" if spec == default else ""
        lines.append(
            f"• {markup.code(spec.id)}{mark}: {markup.people(spec.label)}: "
            f"{', '.join(str(d) for d in spec.durations)} s · {', '.join(spec.aspect_ratios)} · "
            f"from {_inputs(spec)}"
        )
    return "\n".join(lines)
