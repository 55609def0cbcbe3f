"""A request's several takes on Slack: every video made shared into the first take's thread
with one upload v2 (`files.completeUploadExternal` with all the files), then one message with
the takes that failed named, a Re-roll per take and the usual buttons for the first."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import _blocks as blocks
from adapters.slack._errors import best_effort, slack_call
from adapters.slack._markup import SLACK
from bot import texts
from bot.models import Job
from bot.refs import SlackRefs
from bot.variants import TakeVideo


class Poster(Protocol):
    """What of the Slack surface posting the takes needs (`SlackSurface`)."""

    @property
    def client(self) -> AsyncWebClient: ...

    def thread_of(self, job: Job) -> str | None: ...

    async def upload(self, url: str, video: Path, size: int) -> None: ...

    async def set_card(self, job: Job, action: str, text: str, card: list[Any]) -> None: ...


def takes_message(
    takes: Sequence[TakeVideo], failed: Sequence[Job], notice: str | None
) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    """The message under the takes: the first take's result message, with the takes named,
    links for those too large, failures said, and its one Re-roll made one per take."""
    first = takes[0].job
    text, result, metadata = blocks.result_message(first, notice)
    said = [texts.takes_ready(first.origin.user_id, SLACK, len(takes))]
    said += [
        texts.take_link(take.number, take.link.url, take.link.expires_at, SLACK)
        for take in takes
        if take.link is not None
    ]
    if failed:
        refunded = sum(job.cost_s for job in failed)
        said.append(texts.takes_failed([job.take + 1 for job in failed], refunded))
    rerolls = {
        "type": "actions",
        "block_id": "veo_take_rerolls",
        "elements": [
            {
                "type": "button",
                # Action ids are unique within a block: the take's number tells them apart.
                "action_id": f"{blocks.REROLL_ACTION}_{take.number}",
                "text": {
                    "type": "plain_text",
                    "text": f"🎲 {texts.reroll_take_label(take.number)}",
                },
                "value": take.job.id,
            }
            for take in takes
        ],
    }
    for block in result:
        if block.get("block_id") == "veo_result_actions":
            block["elements"] = [
                e for e in block["elements"] if e.get("action_id") != blocks.REROLL_ACTION
            ]
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(said)}}
    return text, [section, *result[:-1], rerolls, result[-1]], metadata


async def deliver_takes(
    surface: Poster,
    takes: Sequence[TakeVideo],
    failed: Sequence[Job],
    notice: str | None,
) -> list[SlackRefs]:
    """Upload every take's video, share them all in one call, post the message, mark the
    first take's card done."""
    first = takes[0].job
    client = surface.client
    thread = surface.thread_of(first)
    shared: list[dict[str, str | None]] = []
    file_ids: dict[str, str] = {}
    for take in takes:
        if take.video is None:
            continue
        size = (await asyncio.to_thread(take.video.stat)).st_size
        ticket = await slack_call(
            "ask where to upload the video",
            client.files_getUploadURLExternal(
                filename=blocks.video_filename(take.job), length=size
            ),
        )
        file_ids[take.job.id] = str(ticket["file_id"])
        await surface.upload(str(ticket["upload_url"]), take.video, size)
        title = f"veo-bot: {take.job.request.prompt[:70]} ({texts.take_label(take.number)})"
        shared.append({"id": file_ids[take.job.id], "title": title})
    if shared:
        await slack_call(
            "share the videos",
            client.files_completeUploadExternal(
                files=shared,
                channel_id=first.origin.channel_id,
                thread_ts=thread,
                initial_comment=blocks.video_comment(first),
            ),
        )
    text, message, metadata = takes_message(takes, failed, notice)
    posted = await slack_call(
        "post the result message",
        client.chat_postMessage(
            channel=first.origin.channel_id,
            thread_ts=thread,
            text=text,
            blocks=message,
            metadata=metadata,
            unfurl_links=False,
            unfurl_media=False,
        ),
    )
    text, card = blocks.done_card(first)
    await best_effort(surface.set_card(first, "mark the card done", text, card))
    return [
        SlackRefs(file_id=file_ids.get(take.job.id), result_ts=str(posted["ts"]), thread_ts=thread)
        for take in takes
    ]
