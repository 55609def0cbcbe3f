"""Block Kit for veo-bot: the status card, the result message, the request modal, and the help
and quota texts. Pure functions of the core's data, so the wire shape lives in one place."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.catalog import MAX_SEED, InputKind, ModelSpec
from bot.jobs import QuotaReport
from bot.models import Job, JobState, ResultLink

Block = dict[str, Any]

COMMAND = "/veo"
SHORTCUT_CALLBACK = "veo_animate"
MODAL_CALLBACK = "veo_request"
REROLL_ACTION = "veo_reroll"
DELETE_ACTION = "veo_delete"
# The result message carries this metadata so a restarted process can recognise it.
RESULT_EVENT = "veo_result"
# Every input element of the modal uses this action id; blocks are told apart by block id.
INPUT = "value"

PROMPT_BLOCK = "prompt"
FIRST_FRAME_BLOCK = "image"
LAST_FRAME_BLOCK = "end_image"
MODEL_BLOCK = "model"
DURATION_BLOCK = "duration"
ASPECT_BLOCK = "aspect_ratio"
SEED_BLOCK = "seed"
NEGATIVE_BLOCK = "negative_prompt"
AUDIO_BLOCK = "audio"

# `InvalidRequest.field` -> the modal block that shows the error; the rest go to the prompt.
FIELD_BLOCKS = {
    "prompt": PROMPT_BLOCK,
    "image": FIRST_FRAME_BLOCK,
    "end_image": LAST_FRAME_BLOCK,
    "model": MODEL_BLOCK,
    "provider": MODEL_BLOCK,
    "duration": DURATION_BLOCK,
    "aspect_ratio": ASPECT_BLOCK,
    "seed": SEED_BLOCK,
    "negative_prompt": NEGATIVE_BLOCK,
    "audio": AUDIO_BLOCK,
}

IMAGE_FILETYPES = ("png", "jpg", "jpeg", "webp")
MAX_TEXT_INPUT = 3000  # Slack's ceiling for a plain_text_input's max_length
_PROMPT_SHOWN = 280  # characters of the prompt quoted on cards; the rest is in the job
_BAR_CELLS = 10


def escape(text: str) -> str:
    """Slack mrkdwn treats these three as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _quote(prompt: str) -> str:
    shown = prompt if len(prompt) <= _PROMPT_SHOWN else prompt[: _PROMPT_SHOWN - 1] + "…"
    return f"“{escape(shown)}”"


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def describe(job: Job) -> str:
    """The parameters of a job in one line: model, length, shape, seed, inputs."""
    req = job.request
    parts = [f"`{job.model}`", f"{req.duration_s} s", f"{req.aspect_ratio}"]
    if req.seed is not None:
        parts.append(f"seed {req.seed}")
    if req.first_frame is not None:
        parts.append("from an image" if req.last_frame is None else "first → last frame")
    if req.audio:
        parts.append("with sound")
    return " · ".join(parts)


def video_filename(job: Job) -> str:
    """Unique per job: `find_delivery` recognises an earlier upload by this name."""
    return f"veo-{job.id}.mp4"


def video_comment(job: Job) -> str:
    return f"{_quote(job.request.prompt)}\n{describe(job)} · job {job.id}"


def private_comment(job: Job, notice: str | None, link: ResultLink | None) -> str:
    """The words with a video sent by DM because its channel would not take it."""
    text = (
        f"Your video is ready, but it could not be posted in <#{job.origin.channel_id}> (the "
        "bot may have been removed from there, or the channel archived), so here it is: "
        f"{_quote(job.request.prompt)}\n{describe(job)} · job {job.id}"
    )
    if link is not None:
        text += (
            "\nIt is too large to upload even compressed; watch or download it until "
            f"<!date^{int(link.expires_at)}^{{date_short_pretty}} {{time}}|it expires>: {link.url}"
        )
    return text + (f"\n{escape(notice)}" if notice else "")


def _bar(progress: int) -> str:
    filled = round(_BAR_CELLS * max(0, min(100, progress)) / 100)
    return "▓" * filled + "░" * (_BAR_CELLS - filled)


def _card(job: Job, status: str) -> list[Block]:
    return [
        _section(f"<@{job.origin.user_id}> asked for a video: {_quote(job.request.prompt)}"),
        _context(f"{describe(job)} · job {job.id}"),
        _section(status),
    ]


def card_marker(job: Job) -> str:
    """How every state of a job's card begins its text, so a restarted bot can find it."""
    return f"Video for job {job.id}:"


def status_card(job: Job) -> tuple[str, list[Block]]:
    """The card's text (notifications, screen readers) and blocks for a job under way."""
    if job.state is JobState.PENDING:
        status = "⏳ Starting…"
    elif job.state is JobState.SUBMITTED and job.progress == 0:
        note = job.queue_note
        status = f"⏳ {note[0].upper()}{note[1:]}…" if note else "⏳ Queued at the video provider…"
    else:
        status = f"🎬 Rendering {_bar(job.progress)} {job.progress}%"
    return f"{card_marker(job)} {status}", _card(job, status)


def done_card(job: Job) -> tuple[str, list[Block]]:
    status = "✅ Done. The video is in the thread."
    return f"Video for job {job.id}: done", _card(job, status)


def sent_privately_card(job: Job) -> tuple[str, list[Block]]:
    status = f"✅ Done. It could not be posted here, so it was sent to <@{job.origin.user_id}>."
    return f"Video for job {job.id}: sent by direct message", _card(job, status)


def failed_card(job: Job, message: str) -> tuple[str, list[Block]]:
    status = f"❌ {escape(message)}"
    return f"<@{job.origin.user_id}> {escape(message)}", _card(job, status)


def deleted_card(job: Job, by_user: str) -> tuple[str, list[Block]]:
    status = f"🗑️ Deleted by <@{by_user}>."
    return f"Video for job {job.id}: deleted", _card(job, status)


def result_message(
    job: Job, notice: str | None, link: ResultLink | None = None
) -> tuple[str, list[Block], dict[str, Any]]:
    """The message under the video (or with the link to it, when it was too large to upload
    even re-encoded): parameters, buttons, and metadata naming the job."""
    footer = f"Asked by <@{job.origin.user_id}>"
    if notice:
        footer += f" · {escape(notice)}"
    blocks: list[Block] = []
    if link is not None:
        expires = int(link.expires_at)
        blocks.append(
            _section(
                "The video is too large to upload here, even compressed: "
                f"<{link.url}|watch or download it> "
                f"(the link works until <!date^{expires}^{{date_short_pretty}} {{time}}|"
                f"{expires}>)."
            )
        )
    blocks += [
        _section(f"{_quote(job.request.prompt)}\n{describe(job)}"),
        _context(f"{footer} · job {job.id}"),
        {
            "type": "actions",
            "block_id": "veo_result_actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": REROLL_ACTION,
                    "text": _plain("🎲 Re-roll"),
                    "value": job.id,
                },
                {
                    "type": "button",
                    "action_id": DELETE_ACTION,
                    "text": _plain("Delete"),
                    "style": "danger",
                    "value": job.id,
                    "confirm": {
                        "title": _plain("Delete this video?"),
                        "text": _plain("The video is removed from the thread for everyone."),
                        "confirm": _plain("Delete"),
                        "deny": _plain("Keep it"),
                    },
                },
            ],
        },
    ]
    metadata = {"event_type": RESULT_EVENT, "event_payload": {"job_id": job.id}}
    return f"Video for job {job.id}: {describe(job)}", blocks, metadata


# --- the modal ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FrameSource:
    """An image already in Slack (the message a shortcut was used on) to animate."""

    file_id: str
    name: str
    url: str | None


@dataclass(frozen=True, slots=True)
class ModalContext:
    """Where the modal's result goes, carried through Slack in the view's private_metadata."""

    channel_id: str
    thread_ts: str | None = None
    frame: FrameSource | None = None

    def dump(self) -> str:
        frame = None
        if self.frame is not None:
            frame = {"id": self.frame.file_id, "name": self.frame.name, "url": self.frame.url}
        return json.dumps({"channel": self.channel_id, "thread": self.thread_ts, "frame": frame})

    @classmethod
    def load(cls, raw: str) -> ModalContext:
        data = json.loads(raw)
        frame = data.get("frame")
        return cls(
            channel_id=data["channel"],
            thread_ts=data.get("thread"),
            frame=FrameSource(frame["id"], frame["name"], frame.get("url")) if frame else None,
        )


def model_value(spec: ModelSpec) -> str:
    return f"{spec.provider}/{spec.id}"


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": _plain(text[:75]), "value": value}


def _select(
    block_id: str,
    label: str,
    options: list[dict[str, Any]],
    *,
    initial: dict[str, Any] | None = None,
    hint: str | None = None,
) -> Block:
    """A drop-down; without `initial` it is optional and empty means "the model's default"."""
    element: dict[str, Any] = {"type": "static_select", "action_id": INPUT, "options": options}
    block: Block = {"type": "input", "block_id": block_id, "label": _plain(label)}
    if initial is not None:
        element["initial_option"] = initial
    else:
        block["optional"] = True
    if hint is not None:
        block["hint"] = _plain(hint)
    return block | {"element": element}


def _unique(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def request_modal(
    choices: Sequence[ModelSpec], default: ModelSpec, context: ModalContext, *, prompt: str = ""
) -> dict[str, Any]:
    """The `/veo` form. Model, duration and aspect options come from the catalog entries of the
    providers this bot has; a combination a model does not offer is refused inline."""
    several_providers = len({spec.provider for spec in choices}) > 1
    model_options = [
        _option(
            f"{spec.label} ({spec.provider})" if several_providers else spec.label,
            model_value(spec),
        )
        for spec in choices
    ]
    initial_model = next(o for o in model_options if o["value"] == model_value(default))
    durations = sorted(_unique(d for spec in choices for d in spec.durations))
    aspects = _unique(a for spec in choices for a in spec.aspect_ratios)
    longest = min(MAX_TEXT_INPUT, max(spec.max_prompt_chars for spec in choices))
    prompt_element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": INPUT,
        "multiline": True,
        "max_length": longest,
        "placeholder": _plain("What should happen in the video?"),
    }
    if prompt:
        # Slack refuses a view whose initial value is longer than its max_length.
        prompt_element["initial_value"] = prompt[:longest]
    blocks: list[Block] = [
        {
            "type": "input",
            "block_id": PROMPT_BLOCK,
            "label": _plain("Prompt"),
            "element": prompt_element,
        }
    ]
    if context.frame is not None:
        blocks.append(_context(f"🖼️ First frame: *{escape(context.frame.name)}* from the message"))
    else:
        blocks.append(_file_input(FIRST_FRAME_BLOCK, "First frame (image to animate)"))
    blocks += [
        _file_input(LAST_FRAME_BLOCK, "Last frame (image to end on)"),
        _select(MODEL_BLOCK, "Model", model_options, initial=initial_model),
        _select(
            DURATION_BLOCK,
            "Duration",
            [_option(f"{d} s", str(d)) for d in durations],
            hint="Leave empty for the model's default.",
        ),
        _select(
            ASPECT_BLOCK,
            "Aspect ratio",
            [_option(a, a) for a in aspects],
            hint="Leave empty for the model's default.",
        ),
        {
            "type": "input",
            "block_id": SEED_BLOCK,
            "optional": True,
            "label": _plain("Seed"),
            "hint": _plain("The same seed and settings give the same video."),
            "element": {
                "type": "number_input",
                "action_id": INPUT,
                "is_decimal_allowed": False,
                "min_value": "0",
                "max_value": str(MAX_SEED),
            },
        },
        {
            "type": "input",
            "block_id": NEGATIVE_BLOCK,
            "optional": True,
            "label": _plain("Negative prompt"),
            "element": {
                "type": "plain_text_input",
                "action_id": INPUT,
                "placeholder": _plain("What to keep out of the video"),
            },
        },
    ]
    if any(spec.audio for spec in choices):
        blocks.append(
            {
                "type": "input",
                "block_id": AUDIO_BLOCK,
                "optional": True,
                "label": _plain("Sound"),
                "element": {
                    "type": "checkboxes",
                    "action_id": INPUT,
                    "options": [_option("Generate sound", "on")],
                },
            }
        )
    return {
        "type": "modal",
        "callback_id": MODAL_CALLBACK,
        "title": _plain("Make a video"),
        "submit": _plain("Generate"),
        "close": _plain("Cancel"),
        "private_metadata": context.dump(),
        "blocks": blocks,
    }


def _file_input(block_id: str, label: str) -> Block:
    return {
        "type": "input",
        "block_id": block_id,
        "optional": True,
        "label": _plain(label),
        "element": {
            "type": "file_input",
            "action_id": INPUT,
            "filetypes": list(IMAGE_FILETYPES),
            "max_files": 1,
        },
    }


# --- texts --------------------------------------------------------------------------------


def _inputs(spec: ModelSpec) -> str:
    kinds = []
    if spec.takes(InputKind.TEXT) and not spec.requires_image:
        kinds.append("text")
    if spec.takes(InputKind.FIRST_FRAME):
        kinds.append("an image")
    if spec.takes(InputKind.LAST_FRAME):
        kinds.append("first + last frame")
    return ", ".join(kinds) or "special inputs"


def help_text(choices: Sequence[ModelSpec], default: ModelSpec) -> str:
    lines = [
        "*Make a video*",
        f"• `{COMMAND} a prompt`: from text, with the default model.",
        f"• `{COMMAND}`: the form, with first and last frame, model, duration, aspect ratio, "
        "seed, negative prompt and sound.",
        "• *Animate with Veo* in a message's ⋮ menu: animate the image in that message; the "
        "video lands in its thread.",
        "• Mention the bot with a prompt and an image attached: the video lands in that thread.",
        f"• `{COMMAND} quota`: what you have left today.",
        "",
        "*Models*",
    ]
    for spec in choices:
        mark = " (default)" if spec == default else ""
        lines.append(
            f"• `{spec.id}`{mark}: {escape(spec.label)}: "
            f"{', '.join(str(d) for d in spec.durations)} s · {', '.join(spec.aspect_ratios)} · "
            f"from {_inputs(spec)}"
        )
    return "\n".join(lines)


def quota_text(report: QuotaReport) -> str:
    resets = int(report.resets_at)
    lines = [
        f"Today you have used *{report.used_today_s:g} s* of {report.daily_limit_s:g} s: "
        f"*{report.remaining_today_s:g} s left*, renewed "
        f"<!date^{resets}^{{date_short_pretty}} at {{time}}|at midnight UTC>.",
        f"Videos in progress: {report.in_flight} of {report.concurrent_limit} at a time.",
    ]
    if report.workspace_monthly_limit_s:
        lines.append(
            f"This workspace: {report.workspace_used_month_s:g} s of "
            f"{report.workspace_monthly_limit_s:g} s this month."
        )
    return "\n".join(lines)
