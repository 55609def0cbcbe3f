"""Sentences of a person's own videos: their history, a result's parameters (Info), private
results, and the buttons that act on them."""

from __future__ import annotations

from bot.i18n import _
from bot.models import Job, JobState
from bot.texts._markup import Markup, seconds
from bot.texts._videos import headline

PROMPT_SHOWN = 80  # characters of a prompt a history line shows

# --- buttons ------------------------------------------------------------------------------


def post_to_channel_label() -> str:
    """The button under a history entry that shares the video in the current channel."""
    return _("Post to channel")


def reroll_label() -> str:
    """The button that makes the same request again with a new seed."""
    return _("Re-roll")


def use_settings_label() -> str:
    """The button that opens the /veo form filled in with an earlier job's settings."""
    return _("Use these settings")


def info_label() -> str:
    """The button under a video that shows its parameters privately."""
    return _("Info")


def older_label() -> str:
    """The button under a page of history that shows the next, older page."""
    return _("Older")


# --- history ------------------------------------------------------------------------------


def history_heading(markup: Markup) -> str:
    """The first line of `/veo-history` (Discord), `/veo history` (Slack)."""
    return _("Your recent videos {in_this_workspace} (only you can see this):").format(
        in_this_workspace=markup.in_this_workspace
    )


def history_empty(markup: Markup) -> str:
    """`/veo-history` for someone who has asked for nothing here yet."""
    return _("You have not asked for any videos {in_this_workspace} yet.").format(
        in_this_workspace=markup.in_this_workspace
    )


def history_no_more() -> str:
    """Said on Older when there is nothing older."""
    return _("There are no older videos.")


def _short(prompt: str) -> str:
    line = " ".join(prompt.split())
    return line if len(line) <= PROMPT_SHOWN else line[: PROMPT_SHOWN - 1] + "…"


def history_entry(job: Job, markup: Markup) -> str:
    """One video of a person's history: prompt, model, duration, state, cost, when; a result
    that exists only as a link says until when."""
    request = job.request
    parts = [
        f"“{markup.people(_short(request.prompt))}”",
        job.model,
        seconds(request.duration_s or 0),
        headline(job.state).lower(),
        _("{seconds} of quota").format(seconds=seconds(job.cost_s)),
        markup.moment(job.created_at),
    ]
    if request.private:
        parts.insert(1, _("private"))
    line = f"{markup.code(job.id)} " + " · ".join(parts)
    refs = job.delivery_refs
    if job.state is JobState.DELIVERED and refs is not None and refs.link_expires_at:
        line += f"\n{link_until(float(refs.link_expires_at), markup)}"
    return line


def link_until(expires_at: float, markup: Markup) -> str:
    """A history entry whose video exists only as a link: until when it works."""
    return _("Only a link to this video exists; it works until {moment}.").format(
        moment=markup.moment(expires_at)
    )


def not_your_video() -> str:
    """Refusal of a history button on someone else's video."""
    return _("That is not one of your videos.")


def nothing_to_post() -> str:
    """Refusal of Post to channel for a job that never made a video."""
    return _("That job has no video to post.")


def shared_video(user_id: str, prompt: str, markup: Markup) -> str:
    """The words over a video posted to a channel from someone's history."""
    return _("{person} shares a video: “{prompt}”").format(
        person=markup.mention(user_id), prompt=markup.people(prompt)
    )


def posted() -> str:
    """The answer to whoever pressed Post to channel."""
    return _("Posted.")


# --- Info ---------------------------------------------------------------------------------


def job_info(job: Job, markup: Markup) -> str:
    """A result's parameters on request (Info): model, seed, duration, aspect ratio,
    negative prompt, provider job id; one per line."""
    request = job.request
    lines = [
        _("Job {job}").format(job=markup.code(job.id)),
        _("Model: {model}").format(model=f"{job.provider}/{job.model}"),
        _("Seed: {seed}").format(seed=request.seed if request.seed is not None else _("random")),
        _("Duration: {seconds}").format(seconds=seconds(request.duration_s or 0)),
        _("Aspect ratio: {aspect_ratio}").format(aspect_ratio=request.aspect_ratio or _("default")),
        _("Negative prompt: {negative_prompt}").format(
            negative_prompt=markup.people(request.negative_prompt or "") or _("none")
        ),
    ]
    provider_id = markup.code(job.provider_job_id) if job.provider_job_id else _("none yet")
    lines.append(_("Provider job id: {provider_job_id}").format(provider_job_id=provider_id))
    return "\n".join(lines)


def info_refused() -> str:
    """Info on a private video, asked by someone other than its requester."""
    return _("Only the person who asked for this private video can see its details.")


# --- private results ----------------------------------------------------------------------


def asked_for_a_private_video(user_id: str, markup: Markup) -> str:
    """A private job's status card: who asked, and nothing of what."""
    return _("{person} asked for a private video.").format(person=markup.mention(user_id))


def private_video_ready() -> str:
    """The words over a private video, sent to its requester alone."""
    return _("Your private video is ready; only you can see it here.")


def sent_to_requester(user_id: str, markup: Markup) -> str:
    """A private job's status card once its video went to the requester."""
    return _("The video was sent to {person} privately.").format(person=markup.mention(user_id))


def private_thread_name() -> str:
    """The name of a private job's thread, which must not show its prompt."""
    return _("Private video")
