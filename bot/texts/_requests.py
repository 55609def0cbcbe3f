"""Sentences about asking for a video: quotas, the answer to a request, refusals, the form,
images kept by the platform, and help."""

from __future__ import annotations

from collections.abc import Sequence

from bot import i18n
from bot.catalog import InputKind, ModelSpec
from bot.i18n import _, ngettext
from bot.models import Job, JobState, QuotaReport
from bot.texts._markup import MIB, Markup, joined, seconds
from bot.texts._money import job_cost, money_left
from bot.texts._queue import waits_its_turn

# --- quota --------------------------------------------------------------------------------


def quota(report: QuotaReport, markup: Markup) -> str:
    """`/veo-quota` (Discord), `/veo quota` (Slack): used, left, when it resets, in flight."""
    lines = [
        _("Today you have used {used} of video out of {limit}: {left}. It resets {when}.").format(
            used=markup.strong(seconds(report.used_today_s)),
            limit=seconds(report.daily_limit_s),
            left=markup.strong(
                _("{seconds} left").format(seconds=seconds(report.remaining_today_s))
            ),
            when=markup.countdown(report.resets_at),
        ),
        _("Videos in progress: {running} of {limit} at a time.").format(
            running=report.in_flight, limit=report.concurrent_limit
        ),
    ]
    if report.workspace_monthly_limit_s > 0:
        lines.append(
            _("This {workspace} has used {used} of its {limit} this month.").format(
                workspace=markup.workspace,
                used=seconds(report.workspace_used_month_s),
                limit=seconds(report.workspace_monthly_limit_s),
            )
        )
    lines.extend(money_left(report, markup))
    return "\n".join(lines)


# --- asking for a video -------------------------------------------------------------------


def queued(job: Job, markup: Markup, *, new_thread: str | None) -> str:
    """The private answer to an accepted request; `new_thread`: the name of the thread its
    status card opens, when the request came from a channel."""
    request = job.request
    if new_thread is None:
        appears = (
            _("Progress will appear in the thread; the video will be sent to you alone.")
            if request.private
            else _("Progress and the video will appear in the thread.")
        )
    else:
        appears = (
            _(
                "Progress will appear in the thread “{thread}” under its status card; "
                "the video will be sent to you alone."
            )
            if request.private
            else _(
                "Progress and the video will appear in the thread “{thread}” under its status card."
            )
        ).format(thread=markup.people(new_thread))
    said = _(
        "Queued as job {job}: {model}, {cost}, {aspect_ratio}. {seconds} of your daily quota "
        "are set aside and only charged if the video arrives. {appears}"
    ).format(
        job=markup.code(job.id),
        model=job.model,
        cost=job_cost(job),
        aspect_ratio=request.aspect_ratio,
        seconds=seconds(job.cost_s),
        appears=appears,
    )
    return f"{said} {waits_its_turn()}" if job.state is JobState.QUEUED else said


def use_in_a_channel(markup: Markup) -> str:
    """Refusal of a command run outside a channel (in a DM), where no thread can hold the video."""
    return _("Use this in a {workspace} channel: videos are posted into threads.").format(
        workspace=markup.workspace
    )


def missing_permissions(names: Sequence[str], markup: Markup) -> str:
    """The bot could not post the result here: the permissions it lacks in the channel."""
    return ngettext(
        "I can't post videos here: I need the {permissions} permission in this channel. "
        "Ask a {workspace} admin to grant it.",
        "I can't post videos here: I need the {permissions} permissions in this channel. "
        "Ask a {workspace} admin to grant them.",
        len(names),
    ).format(permissions=joined(names), workspace=markup.workspace)


def not_a_whole_number(what: str) -> str:
    """Refusal of a form field that should hold a whole number."""
    return _("The {field} must be a whole number, like 8.").format(field=what)


def image_too_large(name: str, size_bytes: int, max_bytes: int, markup: Markup) -> str:
    """Refusal of an image over the size limit, with both sizes."""
    return _("{name} is {size} MB; images may be at most {limit} MB.").format(
        name=name, size=i18n.fixed(size_bytes / MIB, 1), limit=i18n.fixed(max_bytes / MIB, 0)
    )


def attachment_link_expired(name: str, markup: Markup) -> str:
    """Refusal of an attachment whose link expired before the bot read it."""
    return _("The link to {name} has expired; attach it again.").format(name=name)


def attachment_not_handed_over(name: str, markup: Markup) -> str:
    """Refusal when the platform would not give the bot an attachment."""
    return _("{platform} did not hand over {name}; try again in a moment.").format(
        platform=markup.name, name=name
    )


def image_took_too_long(markup: Markup) -> str:
    """Refusal when the platform took too long to hand over the form's image."""
    return _("{platform} took too long to hand over the image; submit again.").format(
        platform=markup.name
    )


def what_should_happen() -> str:
    """The empty prompt field of a form."""
    return _("What should happen in the video?")


def leave_empty_for_the_default() -> str:
    """The hint under an optional field of the form."""
    return _("Leave empty for the model's default.")


def same_seed_same_video() -> str:
    """The hint under the form's seed field."""
    return _("The same seed and settings give the same video.")


def no_image_in_message(markup: Markup) -> str:
    """ "Animate with Veo" on a message without a picture."""
    return _(
        "That message holds no image. Use {animate} on a message with a PNG, JPEG or WebP "
        "image, or attach one to {command}."
    ).format(animate=markup.strong(_("Animate with Veo")), command=markup.code("/veo"))


def no_model_animates_images() -> str:
    """Refusal to animate an image when no offered model takes one."""
    return _("None of this bot's video models animates images.")


def one_or_two_images() -> str:
    """Refusal of a message shortcut on a message without one or two images."""
    return _("Attach one image to animate, or two: the first and the last frame.")


def form_did_not_open(markup: Markup) -> str:
    """Said when the platform refused to open the form."""
    return _("{platform} did not let the form open; run {command} again.").format(
        platform=markup.name, command=markup.code("/veo")
    )


# --- images kept by the platform ----------------------------------------------------------
#
# File names are written as they are: these refusals may be shown in a form field, which
# takes plain text, not markup.


def remote_file(name: str, markup: Markup) -> str:
    """A file that is only a link to somewhere outside the platform: never fetched."""
    return _(
        "{name} is a link to a file kept outside {platform}, so the bot will not fetch it. "
        "Upload the image itself to {platform} and try again."
    ).format(name=name, platform=markup.name)


def not_an_image(name: str, markup: Markup) -> str:
    """Refusal of a file that is not a PNG, JPEG or WebP image."""
    return _("{name} is not a PNG, JPEG or WebP image.").format(name=name)


def file_not_found(name: str, markup: Markup) -> str:
    """Refusal of a shared file the platform does not know."""
    return _("{name} could not be found in {platform}.").format(name=name, platform=markup.name)


def file_not_on_platform_servers(name: str, markup: Markup) -> str:
    """Refusal of a file hosted elsewhere: the bot fetches only from the platform."""
    return _(
        "{name} is not stored on {platform}'s own file servers, so the bot will not fetch it. "
        "Upload the image to {platform} and try again."
    ).format(name=name, platform=markup.name)


def file_not_fetched(name: str, markup: Markup) -> str:
    """Refusal when fetching a shared file failed; trying again may work."""
    return _("{name} could not be fetched from {platform}; try again.").format(
        name=name, platform=markup.name
    )


def file_sent_elsewhere(name: str, markup: Markup) -> str:
    """Refusal when the platform redirected a download to a host outside it."""
    return _(
        "{platform} sent the download of {name} to a server outside {platform}, so the bot "
        "stopped. Upload the image to {platform} again and retry."
    ).format(name=name, platform=markup.name)


def file_withheld(name: str, markup: Markup) -> str:
    """Refusal when the platform would not hand over a file (deleted, or not shared)."""
    return _(
        "{platform} would not hand over {name} (it may have been deleted); share it again and "
        "retry."
    ).format(name=name, platform=markup.name)


def file_redirected_too_often(name: str, markup: Markup) -> str:
    """Refusal when a file's download kept redirecting."""
    return _("{platform} kept redirecting the download of {name}; try again.").format(
        platform=markup.name, name=name
    )


# --- help ---------------------------------------------------------------------------------


def _inputs(spec: ModelSpec) -> str:
    kinds = []
    if spec.takes(InputKind.TEXT) and not spec.requires_image:
        kinds.append(_("text"))
    if spec.takes(InputKind.FIRST_FRAME):
        kinds.append(_("an image"))
    if spec.takes(InputKind.LAST_FRAME):
        kinds.append(_("first + last frame"))
    return _("from {inputs}").format(inputs=", ".join(kinds) or _("special inputs"))


def help_text(
    command: str, choices: Sequence[ModelSpec], default: ModelSpec, markup: Markup
) -> str:
    """What the bot does and which models it offers (Slack's `/veo help`)."""
    lines = [
        markup.strong(_("Make a video")),
        _("• {command}: from text, with the default model.").format(
            command=markup.code(_("{command} a prompt").format(command=command))
        ),
        _(
            "• {command}: the form, with first and last frame, model, duration, aspect ratio, "
            "seed, negative prompt and sound."
        ).format(command=markup.code(command)),
        _(
            "• {animate} in a message's ⋮ menu: animate the image in that message; the video "
            "lands in its thread."
        ).format(animate=markup.strong(_("Animate with Veo"))),
        _("• Mention the bot with a prompt and an image attached: the video lands in that thread."),
        _("• {command}: what you have left today.").format(command=markup.code(f"{command} quota")),
        _("• {command}: your recent videos, only for you to see.").format(
            command=markup.code(f"{command} history")
        ),
        "",
        markup.strong(_("Models")),
    ]
    for spec in choices:
        line = (
            _("• {model} (default): {label}: {durations} · {aspect_ratios} · {inputs}")
            if spec == default
            else _("• {model}: {label}: {durations} · {aspect_ratios} · {inputs}")
        )
        lines.append(
            line.format(
                model=markup.code(spec.id),
                label=markup.people(spec.label),
                durations=_("{seconds} s").format(
                    seconds=", ".join(str(d) for d in spec.durations)
                ),
                aspect_ratios=", ".join(spec.aspect_ratios),
                inputs=_inputs(spec),
            )
        )
    return "\n".join(lines)
