"""Block Kit for veo-bot: the status card, the result message and the request modal. Pure
functions of the core's data, so the wire shape lives in one place; the sentences in them come
from `bot.texts`, written with Slack's markup (`_markup.SLACK`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.slack._markup import SLACK, escape
from bot import i18n, texts
from bot.catalog import MAX_SEED, ModelSpec
from bot.i18n import _
from bot.models import Job, JobState, ResultLink
from bot.variants import MAX_TAKES

Block = dict[str, Any]

COMMAND = "/veo"
SHORTCUT_CALLBACK = "veo_animate"
MODAL_CALLBACK = "veo_request"
REROLL_ACTION = "veo_reroll"
DELETE_ACTION = "veo_delete"
INFO_ACTION = "veo_info"
CANCEL_ACTION = "veo_cancel"
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
PRIVATE_BLOCK = "private"
COUNT_BLOCK = "count"

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
    "count": COUNT_BLOCK,
}

IMAGE_FILETYPES = ("png", "jpg", "jpeg", "webp")
MAX_TEXT_INPUT = 3000  # Slack's ceiling for a plain_text_input's max_length
_PROMPT_SHOWN = 280  # characters of the prompt quoted on cards; the rest is in the job
_BAR_CELLS = 10


def _shown(prompt: str) -> str:
    """As much of the prompt as cards quote; the rest is in the job."""
    return prompt if len(prompt) <= _PROMPT_SHOWN else prompt[: _PROMPT_SHOWN - 1] + "…"


def _quote(prompt: str) -> str:
    return f"“{escape(_shown(prompt))}”"


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def describe(job: Job) -> str:
    """The parameters of a job in one line: model, length, shape, seed, inputs."""
    req = job.request
    parts = [f"`{job.model}`", i18n.seconds(req.duration_s or 0), escape(texts.job_price(job))]
    parts.append(f"{req.aspect_ratio}")
    if req.seed is not None:
        parts.append(_("seed {seed}").format(seed=req.seed))
    if req.first_frame is not None:
        parts.append(_("from an image") if req.last_frame is None else _("first → last frame"))
    if req.audio:
        parts.append(_("with sound"))
    return " · ".join(parts)


def video_filename(job: Job) -> str:
    """Unique per job: `find_delivery` recognises an earlier upload by this name."""
    return f"veo-{job.id}.mp4"


def video_comment(job: Job) -> str:
    return f"{_quote(job.request.prompt)}\n{describe(job)} · job {job.id}"


def private_comment(job: Job, notice: str | None, link: ResultLink | None) -> str:
    """The words with a video sent by DM because its channel would not take it."""
    said = (
        texts.private_video_ready()
        if job.request.private
        else texts.could_not_post_here(job.origin.channel_id, SLACK)
    )
    text = f"{said}\n{_quote(job.request.prompt)}\n{describe(job)} · job {job.id}"
    if link is not None:
        text += f"\n{texts.too_large_to_upload(link, SLACK)}"
    return text + (f"\n{escape(notice)}" if notice else "")


def _bar(progress: int) -> str:
    filled = round(_BAR_CELLS * max(0, min(100, progress)) / 100)
    return "▓" * filled + "░" * (_BAR_CELLS - filled)


def _card(job: Job, status: str) -> list[Block]:
    """A card in the channel: a private job's shows nothing of what was asked."""
    asked = (
        texts.asked_for_a_private_video(job.origin.user_id, SLACK)
        if job.request.private
        else texts.asked_for_a_video(job.origin.user_id, _shown(job.request.prompt), SLACK)
    )
    return [
        _section(asked),
        _context(f"{describe(job)} · " + _("job {job}").format(job=job.id)),
        _section(status),
    ]


def card_marker(job: Job) -> str:
    """How every state of a job's card begins its text, so a restarted bot can find it."""
    return f"Video for job {job.id}:"


def status_card(job: Job) -> tuple[str, list[Block]]:
    """The card's text (notifications, screen readers) and blocks for a job under way."""
    if job.state is JobState.QUEUED:
        status = f"⏳ {texts.queue_place(job) or texts.headline(job.state)}…"
    elif job.state is JobState.PENDING:
        status = f"⏳ {texts.headline(job.state)}…"
    elif job.state is JobState.SUBMITTED and job.progress == 0:
        status = f"⏳ {texts.queue_place(job) or texts.headline(job.state)}…"
    else:
        status = f"🎬 {texts.headline(JobState.RUNNING)} {_bar(job.progress)} {job.progress}%"
    if usual := texts.usual_time(job):
        status += f" · {usual}"
    cancel = {
        "type": "actions",
        "block_id": "veo_status_actions",
        "elements": [
            {
                "type": "button",
                "action_id": CANCEL_ACTION,
                "text": _plain(texts.cancel_label()),
                "value": job.id,
            }
        ],
    }
    return f"{card_marker(job)} {status}", [*_card(job, status), cancel]


def done_card(job: Job) -> tuple[str, list[Block]]:
    status = f"✅ {texts.headline(JobState.DELIVERED)}. {texts.done_in_the_thread()}"
    return f"{card_marker(job)} {_('done')}", _card(job, status)


def sent_privately_card(job: Job) -> tuple[str, list[Block]]:
    status = f"✅ {texts.headline(JobState.DELIVERED)}. "
    status += (
        texts.sent_to_requester(job.origin.user_id, SLACK)
        if job.request.private
        else texts.sent_privately(job.origin.user_id, SLACK)
    )
    return f"{card_marker(job)} {_('sent by direct message')}", _card(job, status)


def failed_card(job: Job, message: str) -> tuple[str, list[Block]]:
    if job.state is JobState.CANCELLED:
        # The bot's own sentence (`texts.cancelled_*`), naming who cancelled in Slack's
        # markup: nothing in it came from a provider or a person's text.
        status = f"⏹️ {message}"
        return f"{card_marker(job)} {message}", _card(job, status)
    status = f"❌ {escape(message)}"
    return f"{SLACK.mention(job.origin.user_id)} {escape(message)}", _card(job, status)


def deleted_card(job: Job, by_user: str) -> tuple[str, list[Block]]:
    status = f"🗑️ {texts.deleted_by(by_user, SLACK)}"
    return f"{card_marker(job)} {_('deleted')}", _card(job, status)


def result_message(
    job: Job, notice: str | None, link: ResultLink | None = None
) -> tuple[str, list[Block], dict[str, Any]]:
    """The message under the video (or with the link to it, when it was too large to upload
    even re-encoded): parameters, buttons, and metadata naming the job."""
    footer = _("Asked by {person}").format(person=SLACK.mention(job.origin.user_id))
    if notice:
        footer += f" · {escape(notice)}"
    blocks: list[Block] = []
    if link is not None:
        blocks.append(_section(texts.too_large_to_upload(link, SLACK)))
    blocks += [
        _section(f"{_quote(job.request.prompt)}\n{describe(job)}"),
        _context(f"{footer} · " + _("job {job}").format(job=job.id)),
        {
            "type": "actions",
            "block_id": "veo_result_actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": REROLL_ACTION,
                    "text": _plain(_("🎲 Re-roll")),
                    "value": job.id,
                },
                info_button(job),
                {
                    "type": "button",
                    "action_id": DELETE_ACTION,
                    "text": _plain(_("Delete")),
                    "style": "danger",
                    "value": job.id,
                    "confirm": {
                        "title": _plain(texts.delete_this_video()),
                        "text": _plain(texts.deleting_removes_it()),
                        "confirm": _plain(_("Delete")),
                        "deny": _plain(_("Keep it")),
                    },
                },
            ],
        },
    ]
    metadata = {"event_type": RESULT_EVENT, "event_payload": {"job_id": job.id}}
    return f"{card_marker(job)} {describe(job)}", blocks, metadata


def info_button(job: Job) -> dict[str, Any]:
    """Info: the job's parameters, privately, to whoever clicks."""
    return {
        "type": "button",
        "action_id": INFO_ACTION,
        "text": _plain(texts.info_label()),
        "value": job.id,
    }


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
        "placeholder": _plain(texts.what_should_happen()),
    }
    if prompt:
        # Slack refuses a view whose initial value is longer than its max_length.
        prompt_element["initial_value"] = prompt[:longest]
    blocks: list[Block] = [
        {
            "type": "input",
            "block_id": PROMPT_BLOCK,
            "label": _plain(_("Prompt")),
            "element": prompt_element,
        }
    ]
    if context.frame is not None:
        blocks.append(
            _context(
                _("🖼️ First frame: {name} from the message").format(
                    name=f"*{escape(context.frame.name)}*"
                )
            )
        )
    else:
        blocks.append(_file_input(FIRST_FRAME_BLOCK, _("First frame (image to animate)")))
    blocks += [
        _file_input(LAST_FRAME_BLOCK, _("Last frame (image to end on)")),
        _select(MODEL_BLOCK, _("Model"), model_options, initial=initial_model),
        _select(
            DURATION_BLOCK,
            _("Duration"),
            [_option(i18n.seconds(d), str(d)) for d in durations],
            hint=texts.leave_empty_for_the_default(),
        ),
        _select(
            ASPECT_BLOCK,
            _("Aspect ratio"),
            [_option(a, a) for a in aspects],
            hint=texts.leave_empty_for_the_default(),
        ),
        {
            "type": "input",
            "block_id": SEED_BLOCK,
            "optional": True,
            "label": _plain(_("Seed")),
            "hint": _plain(texts.same_seed_same_video()),
            "element": {
                "type": "number_input",
                "action_id": INPUT,
                "is_decimal_allowed": False,
                "min_value": "0",
                "max_value": str(MAX_SEED),
            },
        },
        _select(
            COUNT_BLOCK,
            "Takes",
            [_option(str(n), str(n)) for n in range(1, MAX_TAKES + 1)],
            hint=texts.takes_hint(),
        ),
        {
            "type": "input",
            "block_id": NEGATIVE_BLOCK,
            "optional": True,
            "label": _plain(_("Negative prompt")),
            "element": {
                "type": "plain_text_input",
                "action_id": INPUT,
                "placeholder": _plain(_("What to keep out of the video")),
            },
        },
    ]
    if any(spec.audio for spec in choices):
        blocks.append(
            {
                "type": "input",
                "block_id": AUDIO_BLOCK,
                "optional": True,
                "label": _plain(_("Sound")),
                "element": {
                    "type": "checkboxes",
                    "action_id": INPUT,
                    "options": [_option(_("Generate sound"), "on")],
                },
            }
        )
    blocks.append(
        {
            "type": "input",
            "block_id": PRIVATE_BLOCK,
            "optional": True,
            "label": _plain(_("Private")),
            "element": {
                "type": "checkboxes",
                "action_id": INPUT,
                "options": [_option(_("Send the video to me alone, by direct message"), "on")],
            },
        }
    )
    return {
        "type": "modal",
        "callback_id": MODAL_CALLBACK,
        "title": _plain(_("Make a video")),
        "submit": _plain(_("Generate")),
        "close": _plain(_("Cancel")),
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


def help_text(choices: Sequence[ModelSpec], default: ModelSpec) -> str:
    return texts.help_text(COMMAND, choices, default, SLACK)
