"""A person's own videos on Slack: `/veo history` (a private, paged list with Post to channel,
Re-roll, Use these settings and Info under each video), and Info under any video.

`SlackHistory` answers those buttons; the adapter registers its listeners, and lends it the
job service, the catalog and its task runner."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import _blocks as blocks
from adapters.slack._errors import slack_call
from adapters.slack._markup import SLACK
from adapters.slack._surface import SlackSurface
from bot import texts
from bot.catalog import ModelSpec
from bot.errors import InvalidRequest
from bot.history import HistoryPage, visible_to
from bot.models import GenerationRequest, Job, JobState, Origin
from bot.refs import SlackRefs

if TYPE_CHECKING:
    from bot.jobs import JobService

log = logging.getLogger(__name__)

Reply = Callable[[str], Coroutine[Any, Any, None]]
Spawn = Callable[[Coroutine[Any, Any, None], Reply], None]

HISTORY_WORD = "history"
POST_ACTION = "veo_post"
SETTINGS_ACTION = "veo_settings"
OLDER_ACTION = "veo_older"
PAGE_SIZE = 5


def _button(action_id: str, label: str, value: str) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "value": value,
    }


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def history_blocks(page: HistoryPage) -> tuple[str, list[dict[str, Any]]]:
    """A page of history: a section per video with its buttons, and Older when there is more."""
    if not page.jobs:
        text = texts.history_empty(SLACK)
        return text, [_mrkdwn(text)]
    heading = texts.history_heading(SLACK)
    found: list[dict[str, Any]] = [_mrkdwn(heading)]
    for job in page.jobs:
        found += [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": texts.history_entry(job, SLACK)},
            },
            {
                "type": "actions",
                "block_id": f"veo_history_{job.id}",
                "elements": [
                    _button(POST_ACTION, texts.post_to_channel_label(), job.id),
                    _button(blocks.REROLL_ACTION, texts.reroll_label(), job.id),
                    _button(SETTINGS_ACTION, texts.use_settings_label(), job.id),
                    blocks.info_button(job),
                ],
            },
        ]
    if page.next_cursor is not None:
        found.append(
            {
                "type": "actions",
                "block_id": "veo_history_older",
                "elements": [_button(OLDER_ACTION, texts.older_label(), page.next_cursor)],
            }
        )
    return heading, found


def prefilled(view: dict[str, Any], request: GenerationRequest, model: str) -> dict[str, Any]:
    """The `/veo` form with an earlier job's settings as its initial values (those it offers)."""
    initial = {
        blocks.MODEL_BLOCK: model,
        blocks.DURATION_BLOCK: str(request.duration_s) if request.duration_s else None,
        blocks.ASPECT_BLOCK: request.aspect_ratio,
    }
    for block in view["blocks"]:
        element = block.get("element") or {}
        block_id = block.get("block_id")
        if block_id in initial and element.get("type") == "static_select":
            chosen = next((o for o in element["options"] if o["value"] == initial[block_id]), None)
            if chosen is not None:
                element["initial_option"] = chosen
        elif block_id == blocks.SEED_BLOCK and request.seed is not None:
            element["initial_value"] = str(request.seed)
        elif block_id == blocks.NEGATIVE_BLOCK and request.negative_prompt:
            element["initial_value"] = request.negative_prompt
    return view


def _clicked(body: Mapping[str, Any]) -> tuple[str, str, str]:
    """The team, the user and the channel of a click."""
    user = body["user"]
    team = (body.get("team") or {}).get("id") or user.get("team_id")
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    return str(team), str(user["id"]), str(channel)


class SlackHistory:
    """The listeners of `/veo history` and its buttons, and of Info."""

    def __init__(
        self,
        client: AsyncWebClient,
        surface: SlackSurface,
        *,
        jobs: Callable[[], JobService],
        models: Callable[[], tuple[list[ModelSpec], ModelSpec]],
        spawn: Spawn,
        responder: Callable[[AsyncRespond], Reply],
    ) -> None:
        self._client = client
        self._surface = surface
        self._jobs = jobs
        self._models = models
        self._spawn = spawn
        self._responder = responder

    async def send_history(
        self, origin: Origin, respond: AsyncRespond, cursor: str | None = None
    ) -> None:
        """Answer privately with a page of the person's videos."""
        page = await self._jobs().history(origin.user_key, cursor=cursor, size=PAGE_SIZE)
        if cursor is not None and not page.jobs:
            await self._responder(respond)(texts.history_no_more())
            return
        text, found = history_blocks(page)
        await respond(text=text, blocks=found, response_type="ephemeral", replace_original=False)

    async def on_older(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        """Older: the next page, as a new private message."""
        await ack()
        team, user, channel = _clicked(body)
        origin = Origin(platform="slack", workspace_id=team, channel_id=channel, user_id=user)
        reply = self._responder(respond)
        self._spawn(self.send_history(origin, respond, str(action["value"])), reply)

    async def on_info(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        """Info: the job's parameters, privately (a private job's: its requester only)."""
        await ack()
        reply = self._responder(respond)
        _team, user, _channel = _clicked(body)
        self._spawn(self._info(str(action["value"]), user, reply), reply)

    async def _info(self, job_id: str, user: str, reply: Reply) -> None:
        job = await self._jobs().get_job(job_id)
        if job is None:
            await reply(texts.video_unknown())
        elif not visible_to(job, user):
            await reply(texts.info_refused())
        else:
            await reply(texts.job_info(job, SLACK))

    async def _own_job(self, job_id: str, user: str) -> Job:
        job = await self._jobs().get_job(job_id)
        if job is None:
            raise InvalidRequest(texts.video_unknown())
        if job.origin.platform != "slack" or job.origin.user_id != user:
            raise InvalidRequest(texts.not_your_video())
        return job

    async def on_post(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        """Post to channel: share the video in the channel the history was asked in."""
        await ack()
        reply = self._responder(respond)
        _team, user, channel = _clicked(body)
        self._spawn(self._post(str(action["value"]), user, channel, reply), reply)

    async def _post(self, job_id: str, user: str, channel: str, reply: Reply) -> None:
        job = await self._own_job(job_id, user)
        if job.state is not JobState.DELIVERED:
            raise InvalidRequest(texts.nothing_to_post())
        await self.share(job, channel, self._jobs().kept_video(job))
        await reply(texts.posted())

    async def share(self, job: Job, channel: str, video: Path | None) -> None:
        """The video itself when the bot keeps it; else a link to the message that holds it."""
        words = texts.shared_video(job.origin.user_id, job.request.prompt, SLACK)
        if video is not None:
            await self._surface.share_file(job, video, channel_id=channel, comment=words)
            return
        refs = SlackRefs.of(job.delivery_refs) if job.delivery_refs else SlackRefs()
        if refs.result_ts is None or refs.dm_channel is not None:
            raise InvalidRequest(texts.nothing_to_post())
        ts = refs.result_ts.replace(".", "")
        link = f"https://slack.com/archives/{job.origin.channel_id}/p{ts}"
        await slack_call(
            "share a video",
            self._client.chat_postMessage(
                channel=channel, text=f"{words}\n{blocks.describe(job)} · {link}"
            ),
        )

    async def on_settings(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        """Use these settings: the `/veo` form, filled in (the trigger lives 3 s: at once)."""
        await ack()
        reply = self._responder(respond)
        _team, user, channel = _clicked(body)
        trigger = str(body["trigger_id"])
        self._spawn(self._settings(str(action["value"]), user, channel, trigger, reply), reply)

    async def _settings(
        self, job_id: str, user: str, channel: str, trigger_id: str, reply: Reply
    ) -> None:
        job = await self._own_job(job_id, user)
        choices, default = self._models()
        context = blocks.ModalContext(channel_id=channel)
        view = blocks.request_modal(choices, default, context, prompt=job.request.prompt)
        view = prefilled(view, job.request, f"{job.provider}/{job.model}")
        await slack_call("open the form", self._client.views_open(trigger_id=trigger_id, view=view))
