"""What people see of a job in Discord: the status card, the result message, thread names.

Pure functions from a `Job` (plain data) to embeds and strings, so a process that resumes a job
draws exactly what the first one drew.
"""

from __future__ import annotations

import re

import discord

from adapters.discord._markup import DISCORD
from bot import i18n, texts
from bot.i18n import _
from bot.models import Job, JobState

PROGRESS_CELLS = 20
THREAD_NAME_MAX = 100  # Discord's limit
_DESCRIPTION_MAX = 4096
_FIELD_MAX = 1024

_WORKING = discord.Colour.blurple()
_DONE = discord.Colour.green()
_FAILED = discord.Colour.red()


def footer(job_id: str) -> str:
    """The job's mark on every message about it, for people quoting it to an admin."""
    return f"veo job {job_id}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def progress_bar(percent: int) -> str:
    percent = max(0, min(100, percent))
    filled = round(PROGRESS_CELLS * percent / 100)
    return "▰" * filled + "▱" * (PROGRESS_CELLS - filled) + f" {percent}%"


def thread_name(prompt: str) -> str:
    """The prompt's first words on one line, within Discord's 100 characters."""
    line = re.sub(r"\s+", " ", prompt).strip() or _("Veo video")
    return _clip(line, THREAD_NAME_MAX)


def _inputs(job: Job) -> str:
    request = job.request
    if request.source_video is not None:
        return _("extends a video")
    if request.first_frame is not None and request.last_frame is not None:
        return _("first + last frame")
    if request.first_frame is not None:
        return _("image")
    if request.last_frame is not None:
        return _("last frame")
    return _("text")


def thread_name_of(job: Job) -> str:
    """The name of the job's thread: its prompt's first words, unless the job is private."""
    return texts.private_thread_name() if job.request.private else thread_name(job.request.prompt)


def _describe(embed: discord.Embed, job: Job, *, public: bool = True) -> discord.Embed:
    """The job's parameters; `public`: seen in the channel, where a private job's prompt and
    negative prompt are left out."""
    request = job.request
    hidden = public and request.private
    embed.description = (
        texts.asked_for_a_private_video(job.origin.user_id, DISCORD)
        if hidden
        else _clip(request.prompt, _DESCRIPTION_MAX)
    )
    embed.add_field(name=_("Model"), value=_clip(job.model, _FIELD_MAX))
    embed.add_field(name=_("Duration"), value=i18n.seconds(request.duration_s or 0))
    embed.add_field(name=_("Cost"), value=texts.job_price(job))
    embed.add_field(name=_("Aspect ratio"), value=request.aspect_ratio or _("default"))
    embed.add_field(
        name=_("Seed"), value=str(request.seed) if request.seed is not None else _("random")
    )
    embed.add_field(name=_("Input"), value=_inputs(job))
    if request.audio:
        embed.add_field(name=_("Audio"), value=_("on"))
    embed.add_field(name=_("Requested by"), value=DISCORD.mention(job.origin.user_id))
    if request.negative_prompt and not hidden:
        embed.add_field(
            name=_("Avoid"), value=_clip(request.negative_prompt, _FIELD_MAX), inline=False
        )
    embed.set_footer(text=footer(job.id))
    return embed


def status_card(job: Job) -> discord.Embed:
    """The card in the channel while the job runs: what was asked and how far it is."""
    embed = discord.Embed(title=f"🎬 {texts.headline(job.state)}", colour=_WORKING)
    _describe(embed, job)
    if job.state is JobState.QUEUED:  # waiting at the bot: its place, no bar
        progress = texts.queue_place(job) or texts.headline(job.state)
    else:
        progress = progress_bar(job.progress)
        if place := texts.queue_note(job):
            progress += f" · {place}"
        if usual := texts.usual_time(job):
            progress += f" · {usual}"
    embed.add_field(name=_("Progress"), value=progress, inline=False)
    return embed


def done_card(job: Job, video_url: str) -> discord.Embed:
    embed = discord.Embed(title=f"🎬 {texts.headline(JobState.DELIVERED)}", colour=_DONE)
    _describe(embed, job)
    embed.add_field(name=_("Video"), value=f"[{texts.in_the_thread()}]({video_url})", inline=False)
    return embed


def sent_privately_card(job: Job) -> discord.Embed:
    """The card's last state when the video could not be posted in the thread and went to
    the requester by DM instead."""
    embed = discord.Embed(title=f"🎬 {texts.headline(JobState.DELIVERED)}", colour=_DONE)
    _describe(embed, job)
    said = (
        texts.sent_to_requester(job.origin.user_id, DISCORD)
        if job.request.private
        else texts.sent_privately(job.origin.user_id, DISCORD)
    )
    embed.add_field(name=_("Video"), value=said, inline=False)
    return embed


def failed_card(job: Job, message: str) -> discord.Embed:
    """The card's last state when the job ends without a video; `message` says why and
    that nothing was charged."""
    embed = discord.Embed(title=f"🎬 {texts.headline(job.state)}", colour=_FAILED)
    _describe(embed, job)
    embed.add_field(name=_("What happened"), value=_clip(message, _FIELD_MAX), inline=False)
    return embed


def result_embed(job: Job) -> discord.Embed:
    """The parameters under the posted video, so a re-roll or a retry can be compared."""
    return _describe(discord.Embed(title=_("🎬 Your video"), colour=_DONE), job, public=False)
