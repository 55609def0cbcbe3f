"""The `ChatSurface` for Slack: a status card in the channel (or in the thread the request came
from), progress by `chat.update`, and the MP4 uploaded with upload v2 into the card's thread,
followed by a message with the parameters and the Re-roll / Delete buttons.

Everything needed to finish a job lives on the job (`Origin.refs`: the card's ts and its
thread), so a process that starts after a crash can pick up where the last one stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import _blocks as blocks
from adapters.slack import _takes
from adapters.slack._errors import best_effort, delivery_error, slack_call
from bot.errors import DeliveryError
from bot.models import Job, ResultLink
from bot.refs import SlackRefs
from bot.variants import TakeVideo

log = logging.getLogger(__name__)

PLATFORM = "slack"
# Slack takes files up to 1 GB.
UPLOAD_LIMIT_BYTES = 1024**3
_PAGE = 200


def _card(job: Job) -> SlackRefs:
    """Where the job's status card and thread are (empty until the card is posted)."""
    return SlackRefs.of(job.origin.refs)


def thread_root(job: Job) -> str | None:
    """The ts of the thread the job's messages go into, if any."""
    return _card(job).thread_ts or job.origin.thread_id


class SlackSurface:
    """Slack as the core's chat surface: status cards, videos in threads and failures."""

    platform = PLATFORM
    # Slack allows about one chat.update per second per channel, shared by every job in it.
    progress_interval_s = 3.0

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self._bot_user_id: str | None = None

    def identified(self, bot_user_id: str) -> None:
        """The bot's own user id, as auth.test gave it at start."""
        self._bot_user_id = bot_user_id

    def upload_limit_bytes(self, job: Job) -> int | None:
        """Slack's upload limit for one file."""
        return UPLOAD_LIMIT_BYTES

    async def post_status(self, job: Job) -> SlackRefs:
        """Post the status card (in the thread asked from, if any); return where it is."""
        text, card = blocks.status_card(job)
        root = job.origin.thread_id
        posted = await slack_call(
            "post the status card",
            self._client.chat_postMessage(
                channel=job.origin.channel_id,
                thread_ts=root,
                text=text,
                blocks=card,
                unfurl_links=False,
                unfurl_media=False,
            ),
        )
        ts = str(posted["ts"])
        # A card posted in the channel starts the job's thread; one in a thread joins it.
        return SlackRefs(status_ts=ts, thread_ts=root or ts)

    async def find_status(self, job: Job) -> SlackRefs | None:
        """The job's card already in the channel or thread: the bot's message whose text
        names the job (see `blocks.status_card`)."""
        bot_user_id = await self._own_user_id()
        marker = blocks.card_marker(job)
        for message in await self._thread_messages(job):
            if message.get("user") == bot_user_id and str(message.get("text", "")).startswith(
                marker
            ):
                ts = str(message["ts"])
                root = job.origin.thread_id
                return SlackRefs(status_ts=ts, thread_ts=root or ts)
        return None

    async def update_progress(self, job: Job) -> None:
        """Update the status card with the job's progress."""
        text, card = blocks.status_card(job)
        await self._set_card(job, "update progress", text, card)

    async def report_failure(self, job: Job, message: str) -> None:
        """Say on the card, or in its thread when it is gone, why the job failed."""
        text, card = blocks.failed_card(job, message)
        if _card(job).status_ts:
            try:
                await self._set_card(job, "report the failure", text, card)
                return
            except DeliveryError as err:
                # Someone may have deleted the card; the person still needs to hear why.
                log.warning("slack: job %s: %s; posting the failure instead", job.id, err)
        await slack_call(
            "report the failure",
            self._client.chat_postMessage(
                channel=job.origin.channel_id, thread_ts=thread_root(job), text=text, blocks=card
            ),
        )

    async def deliver(self, job: Job, video: Path, *, notice: str | None) -> SlackRefs:
        """Upload v2, the three steps by hand: slack_sdk's `files_upload_v2` reads the whole
        file into memory, and twenty videos of 50 MB at once would cost a gigabyte. Here the
        bytes stream from disk."""
        file_id = await self._share(
            job,
            video,
            channel_id=job.origin.channel_id,
            thread_ts=thread_root(job),
            comment=blocks.video_comment(job),
        )
        return await self._finish(job, file_id, notice=notice)

    async def _share(
        self, job: Job, video: Path, *, channel_id: str, thread_ts: str | None, comment: str
    ) -> str:
        """Upload v2 into a conversation (a thread of it, with `thread_ts`); the file's id."""
        filename = blocks.video_filename(job)
        size = (await asyncio.to_thread(video.stat)).st_size
        ticket = await slack_call(
            "ask where to upload the video",
            self._client.files_getUploadURLExternal(filename=filename, length=size),
        )
        file_id = str(ticket["file_id"])
        await self._upload(str(ticket["upload_url"]), video, size)
        await slack_call(
            "share the video",
            self._client.files_completeUploadExternal(
                files=[{"id": file_id, "title": f"veo-bot: {job.request.prompt[:80]}"}],
                channel_id=channel_id,
                thread_ts=thread_ts,
                initial_comment=comment,
            ),
        )
        return file_id

    async def share_file(self, job: Job, video: Path, *, channel_id: str, comment: str) -> str:
        """Upload a kept video into a channel (Post to channel, from a person's history)."""
        return await self._share(job, video, channel_id=channel_id, thread_ts=None, comment=comment)

    async def deliver_privately(
        self, job: Job, video: Path, *, link: ResultLink | None, notice: str | None
    ) -> SlackRefs:
        """The video in a DM with the requester (upload v2 into it: an ephemeral message
        cannot hold a file), when its channel refused it for good: the bot removed from it,
        the channel archived or gone."""
        opened = await slack_call(
            "open a DM with the requester",
            self._client.conversations_open(users=job.origin.user_id),
        )
        dm = str(opened["channel"]["id"])
        text = blocks.private_comment(job, notice, link)
        if link is not None:
            posted = await slack_call(
                "send the link by DM",
                self._client.chat_postMessage(
                    channel=dm, text=text, unfurl_links=False, unfurl_media=False
                ),
            )
            return await self._sent_privately(
                job, SlackRefs(dm_channel=dm, result_ts=str(posted["ts"]))
            )
        file_id = await self._share(job, video, channel_id=dm, thread_ts=None, comment=text)
        return await self._sent_privately(job, SlackRefs(dm_channel=dm, file_id=file_id))

    async def _sent_privately(self, job: Job, refs: SlackRefs) -> SlackRefs:
        text, card = blocks.sent_privately_card(job)
        await best_effort(self._set_card(job, "mark the card sent by DM", text, card))
        return refs

    async def send_file_by_dm(
        self, user_id: str, *, filename: str, data: bytes, title: str, comment: str
    ) -> str:
        """A small file (the usage chart) to one person, in their DM with the bot, by upload
        v2: an ephemeral message cannot hold a file. Returns the DM's channel id."""
        opened = await slack_call(
            "open a DM with the admin", self._client.conversations_open(users=user_id)
        )
        dm = str(opened["channel"]["id"])
        ticket = await slack_call(
            "ask where to upload the chart",
            self._client.files_getUploadURLExternal(filename=filename, length=len(data)),
        )
        await self._upload(str(ticket["upload_url"]), data, len(data))
        await slack_call(
            "share the chart",
            self._client.files_completeUploadExternal(
                files=[{"id": str(ticket["file_id"]), "title": title}],
                channel_id=dm,
                initial_comment=comment,
            ),
        )
        return dm

    async def deliver_takes(
        self, takes: Sequence[TakeVideo], *, failed: Sequence[Job], notice: str | None
    ) -> list[SlackRefs]:
        """A request's takes: one upload v2 with every file, one message (`_takes`)."""
        return await _takes.deliver_takes(self, takes, failed, notice)

    @property
    def client(self) -> AsyncWebClient:
        """The Web API client the surface posts with."""
        return self._client

    def thread_of(self, job: Job) -> str | None:
        """The ts of the thread the job's messages go into, if any."""
        return thread_root(job)

    async def upload(self, url: str, video: Path, size: int) -> None:
        """POST a file's bytes to an upload URL Slack issued, streamed from disk."""
        await self._upload(url, video, size)

    async def set_card(self, job: Job, action: str, text: str, card: list[Any]) -> None:
        """Replace the job's status card, when it has one."""
        await self._set_card(job, action, text, card)

    async def _upload(self, url: str, video: Path | bytes, size: int) -> None:
        """POST the file's bytes to the upload URL Slack issued, streamed from disk (or from
        memory, for a small file made on the spot)."""
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=120)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                with (
                    contextlib.nullcontext(video) if isinstance(video, bytes) else video.open("rb")
                ) as stream:
                    async with session.post(
                        url,
                        data=stream,
                        headers={
                            "Content-Type": "application/octet-stream",
                            "Content-Length": str(size),
                        },
                        proxy=self._client.proxy,
                        ssl=self._client.ssl if self._client.ssl is not None else True,
                    ) as answer:
                        if answer.status != 200:
                            raise DeliveryError(
                                f"upload the video: HTTP {answer.status}",
                                retryable=answer.status >= 500 or answer.status == 429,
                            )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise delivery_error("upload the video", exc) from exc

    async def deliver_link(self, job: Job, link: ResultLink, *, notice: str | None) -> SlackRefs:
        """The last resort for a video too large to upload even re-encoded: the result
        message carries a link that works until it expires."""
        return await self._finish(job, "", notice=notice, link=link)

    async def find_delivery(self, job: Job) -> SlackRefs | None:
        """The job's video already in its thread (a crash came between the upload and the
        record): finish around it instead of posting it again."""
        bot_user_id = await self._own_user_id()
        if job.request.private:
            return await self._find_in_dm(job, bot_user_id)
        file_id = result_ts = None
        for message in await self._thread_messages(job):
            if message.get("user") != bot_user_id:
                continue
            for file in message.get("files") or []:
                if file.get("name") == blocks.video_filename(job):
                    file_id = str(file["id"])
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if (
                metadata.get("event_type") == blocks.RESULT_EVENT
                and payload.get("job_id") == job.id
            ):
                result_ts = str(message["ts"])
        if file_id is None and result_ts is None:
            return None
        # A result message without a file is a link delivery (or a file since deleted).
        return await self._finish(job, file_id or "", notice=None, result_ts=result_ts)

    async def _find_in_dm(self, job: Job, bot_user_id: str) -> SlackRefs | None:
        """A private job's video already sent to its requester's DM."""
        opened = await slack_call(
            "open a DM with the requester",
            self._client.conversations_open(users=job.origin.user_id),
        )
        dm = str(opened["channel"]["id"])
        answer = await slack_call(
            "look for an earlier DM of the video",
            self._client.conversations_history(channel=dm, limit=_PAGE),
        )
        for message in answer.get("messages") or []:
            if message.get("user") != bot_user_id:
                continue
            for file in message.get("files") or []:
                if file.get("name") == blocks.video_filename(job):
                    return SlackRefs(dm_channel=dm, file_id=str(file["id"]))
        return None

    async def delete_result(self, job: Job, by_user: str) -> None:
        """Remove the video and its message (the Delete button); the card says who did it."""
        refs = SlackRefs.of(job.delivery_refs or SlackRefs())
        if refs.file_id:
            await slack_call("delete the video", self._client.files_delete(file=refs.file_id))
        if refs.result_ts:
            await slack_call(
                "delete the result message",
                self._client.chat_delete(channel=job.origin.channel_id, ts=refs.result_ts),
            )
        text, card = blocks.deleted_card(job, by_user)
        await best_effort(self._set_card(job, "mark the card deleted", text, card))

    async def _finish(
        self,
        job: Job,
        file_id: str,
        *,
        notice: str | None,
        result_ts: str | None = None,
        link: ResultLink | None = None,
    ) -> SlackRefs:
        """Post the message with the buttons under the video (unless it is there already) and
        mark the card done; return the refs the job keeps."""
        if result_ts is None:
            text, result, metadata = blocks.result_message(job, notice, link)
            posted = await slack_call(
                "post the result message",
                self._client.chat_postMessage(
                    channel=job.origin.channel_id,
                    thread_ts=thread_root(job),
                    text=text,
                    blocks=result,
                    metadata=metadata,
                    # Slack would fetch every link in it (the result link, any in the prompt)
                    # to decide how to preview it.
                    unfurl_links=False,
                    unfurl_media=False,
                ),
            )
            result_ts = str(posted["ts"])
        text, card = blocks.done_card(job)
        # The video is up: a card that stays at 99% is not worth posting the video again.
        await best_effort(self._set_card(job, "mark the card done", text, card))
        return SlackRefs(file_id=file_id or None, result_ts=result_ts, thread_ts=thread_root(job))

    async def _set_card(self, job: Job, action: str, text: str, card: list[Any]) -> None:
        """Replace the status card, when the job has one (posting it may have failed)."""
        status_ts = _card(job).status_ts
        if status_ts:
            await slack_call(
                action,
                self._client.chat_update(
                    channel=job.origin.channel_id, ts=status_ts, text=text, blocks=card
                ),
            )

    async def _own_user_id(self) -> str:
        if self._bot_user_id is None:
            answer = await slack_call("identify the bot", self._client.auth_test())
            self._bot_user_id = str(answer["user_id"])
        return self._bot_user_id

    async def _thread_messages(self, job: Job) -> list[dict[str, Any]]:
        """The job's thread, or the channel since the job began when it has no thread."""
        root = thread_root(job)
        messages: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            if root is not None:
                call = self._client.conversations_replies(
                    channel=job.origin.channel_id,
                    ts=root,
                    cursor=cursor,
                    limit=_PAGE,
                    include_all_metadata=True,
                )
            else:
                call = self._client.conversations_history(
                    channel=job.origin.channel_id,
                    oldest=f"{job.created_at:.6f}",
                    cursor=cursor,
                    limit=_PAGE,
                    include_all_metadata=True,
                )
            page = await slack_call("look for an earlier delivery", call)
            messages.extend(page.get("messages") or [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                return messages
