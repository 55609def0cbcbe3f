"""Sentences about asking for a video: quotas, the answer to a request, refusals, the form,
images kept by the platform, and help."""

from __future__ import annotations

from collections.abc import Sequence

from bot.catalog import InputKind, ModelSpec
from bot.models import Job, JobState, QuotaReport
from bot.texts._markup import MIB, Markup, joined, seconds
from bot.texts._money import job_cost, money_left
from bot.texts._queue import waits_its_turn

# --- quota --------------------------------------------------------------------------------


def quota(report: QuotaReport, markup: Markup) -> str:
    """`/veo-quota` (Discord), `/veo quota` (Slack): used, left, when it resets, in flight."""
    lines = [
        f"Today you have used {markup.strong(seconds(report.used_today_s))} of video out of "
        f"{seconds(report.daily_limit_s)}: "
        f"{markup.strong(seconds(report.remaining_today_s) + ' left')}. "
        f"It resets {markup.countdown(report.resets_at)}.",
        f"Videos in progress: {report.in_flight} of {report.concurrent_limit} at a time.",
    ]
    if report.workspace_monthly_limit_s > 0:
        lines.append(
            f"This {markup.workspace} has used {seconds(report.workspace_used_month_s)} of its "
            f"{seconds(report.workspace_monthly_limit_s)} this month."
        )
    lines.extend(money_left(report, markup))
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
    appears = (
        f"Progress will appear {where}; the video will be sent to you alone."
        if request.private
        else f"Progress and the video will appear {where}."
    )
    said = (
        f"Queued as job {markup.code(job.id)}: {job.model}, {job_cost(job)}, "
        f"{request.aspect_ratio}. {job.cost_s:g} s of your daily quota are set aside and only "
        f"charged if the video arrives. {appears}"
    )
    return f"{said} {waits_its_turn()}" if job.state is JobState.QUEUED else said


def use_in_a_channel(markup: Markup) -> str:
    """Refusal of a command run outside a channel (in a DM), where no thread can hold the video."""
    return f"Use this in a {markup.workspace} channel: videos are posted into threads."


def missing_permissions(names: Sequence[str], markup: Markup) -> str:
    """The bot could not post the result here: the permissions it lacks in the channel."""
    several = len(names) > 1
    return (
        f"I can't post videos here: I need the {joined(names)} "
        f"permission{'s' if several else ''} in this channel. Ask a {markup.workspace} admin "
        f"to grant {'them' if several else 'it'}."
    )


def not_a_whole_number(what: str) -> str:
    """Refusal of a form field that should hold a whole number."""
    return f"The {what} must be a whole number, like 8."


def image_too_large(name: str, size_bytes: int, max_bytes: int, markup: Markup) -> str:
    """Refusal of an image over the size limit, with both sizes."""
    return f"{name} is {size_bytes / MIB:.1f} MB; images may be at most {max_bytes / MIB:.0f} MB."


def attachment_link_expired(name: str, markup: Markup) -> str:
    """Refusal of an attachment whose link expired before the bot read it."""
    return f"The link to {name} has expired; attach it again."


def attachment_not_handed_over(name: str, markup: Markup) -> str:
    """Refusal when the platform would not give the bot an attachment."""
    return f"{markup.name} did not hand over {name}; try again in a moment."


def image_took_too_long(markup: Markup) -> str:
    """Refusal when the platform took too long to hand over the form's image."""
    return f"{markup.name} took too long to hand over the image; submit again."


def what_should_happen() -> str:
    """The empty prompt field of a form."""
    return "What should happen in the video?"


def leave_empty_for_the_default() -> str:
    """The hint under an optional field of the form."""
    return "Leave empty for the model's default."


def same_seed_same_video() -> str:
    """The hint under the form's seed field."""
    return "The same seed and settings give the same video."


def no_image_in_message(markup: Markup) -> str:
    """ "Animate with Veo" on a message without a picture."""
    return (
        f"That message holds no image. Use {markup.strong('Animate with Veo')} on a message "
        f"with a PNG, JPEG or WebP image, or attach one to {markup.code('/veo')}."
    )


def no_model_animates_images() -> str:
    """Refusal to animate an image when no offered model takes one."""
    return "None of this bot's video models animates images."


def one_or_two_images() -> str:
    """Refusal of a message shortcut on a message without one or two images."""
    return "Attach one image to animate, or two: the first and the last frame."


def form_did_not_open(markup: Markup) -> str:
    """Said when the platform refused to open the form."""
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
    """Refusal of a file that is not a PNG, JPEG or WebP image."""
    return f"{name} is not a PNG, JPEG or WebP image."


def file_not_found(name: str, markup: Markup) -> str:
    """Refusal of a shared file the platform does not know."""
    return f"{name} could not be found in {markup.name}."


def file_not_on_platform_servers(name: str, markup: Markup) -> str:
    """Refusal of a file hosted elsewhere: the bot fetches only from the platform."""
    return (
        f"{name} is not stored on {markup.name}'s own file servers, so the bot "
        f"will not fetch it. Upload the image to {markup.name} and try again."
    )


def file_not_fetched(name: str, markup: Markup) -> str:
    """Refusal when fetching a shared file failed; trying again may work."""
    return f"{name} could not be fetched from {markup.name}; try again."


def file_sent_elsewhere(name: str, markup: Markup) -> str:
    """Refusal when the platform redirected a download to a host outside it."""
    return (
        f"{markup.name} sent the download of {name} to a server outside "
        f"{markup.name}, so the bot stopped. Upload the image to {markup.name} again and retry."
    )


def file_withheld(name: str, markup: Markup) -> str:
    """Refusal when the platform would not hand over a file (deleted, or not shared)."""
    return (
        f"{markup.name} would not hand over {name} (it may have been deleted); "
        "share it again and retry."
    )


def file_redirected_too_often(name: str, markup: Markup) -> str:
    """Refusal when a file's download kept redirecting."""
    return f"{markup.name} kept redirecting the download of {name}; try again."


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
        f"• {markup.code(f'{command} history')}: your recent videos, only for you to see.",
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
