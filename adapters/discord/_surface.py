"""The core's `ChatSurface` on Discord: the status card, its thread, progress, the video.

Everything goes through ordinary bot messages addressed by plain ids from the job's `Origin`
(never the interaction webhook, whose token dies after 15 minutes, nor live discord.py
objects), so a process that resumes a job after a restart posts into the same place.

Where things go:
- `/veo` in a channel: the card in the channel, a thread opened on it (its id is the card's),
  the video in the thread.
- `/veo` or a button inside a thread: card and video in that thread.
- "Animate with Veo" on a message: `Origin.thread_id` is that message's id; the thread is
  opened on the message the first time something is posted into it.

This module is also the one place where discord.py's errors become `DeliveryError`s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
import discord

from adapters.discord import _cards, _takes
from adapters.discord._buttons import (
    delete_custom_id,
    info_custom_id,
    info_view,
    result_view,
    status_view,
)
from adapters.discord._markup import DISCORD
from bot import texts
from bot.errors import DeliveryError, InvalidRequest
from bot.models import Job, Origin, ResultLink
from bot.refs import DiscordRefs
from bot.variants import TakeVideo

if TYPE_CHECKING:
    from adapters.discord._client import VeoClient
    from bot.jobs import JobService

log = logging.getLogger(__name__)

PLATFORM = "discord"
# What Discord takes per attachment on a server without boosts (since January 2025); used
# until the interaction's own `attachment_size_limit` is known for a job.
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
HISTORY_SEARCH = 100  # how far back `find_delivery` looks in the thread
_UNKNOWN_CHANNEL = 10003
_THREAD_ALREADY_EXISTS = 160004
_ONE_DAY_MIN: Literal[1440] = 1440
# An interaction token's life (15 minutes), less a margin for the upload itself.
TOKEN_LIFE_S = 14 * 60

_NO_PINGS = discord.AllowedMentions.none()


@contextlib.contextmanager
def delivery_errors(action: str) -> Iterator[None]:
    """Turn discord.py's failures into `DeliveryError`: rate limits, 5xx and network trouble
    are worth retrying later; any other 4xx is not (Cloudflare bans bots that repeat them)."""
    try:
        yield
    except discord.RateLimited as exc:
        raise DeliveryError(
            f"Discord rate-limited {action} for {exc.retry_after:.0f} s",
            retryable=True,
            retry_after=exc.retry_after,
        ) from exc
    except discord.HTTPException as exc:
        retryable = exc.status == 429 or exc.status >= 500
        raise DeliveryError(
            f"Discord answered {exc.status} (code {exc.code}) to {action}",
            retryable=retryable,
            user_message=None
            if retryable
            else texts.posting_refused(exc.status, exc.code, DISCORD),
        ) from exc
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise DeliveryError(
            f"could not reach Discord for {action} ({type(exc).__name__})", retryable=True
        ) from exc


def _jump_url(origin: Origin, channel_id: int | str, message_id: int | str) -> str:
    server = "@me" if origin.direct else origin.workspace_id
    return f"https://discord.com/channels/{server}/{channel_id}/{message_id}"


def _card(job: Job) -> DiscordRefs:
    """Where the job's status card and thread are (empty until the card is posted)."""
    return DiscordRefs.of(job.origin.refs)


def _custom_ids(message: discord.Message) -> set[str]:
    found: set[str] = set()
    for row in message.components:
        for child in getattr(row, "children", ()):
            custom_id = getattr(child, "custom_id", None)
            if custom_id:
                found.add(custom_id)
    return found


class DiscordSurface:
    """Discord as the core's chat surface: status cards, threads, videos and failures."""

    platform = PLATFORM
    # Discord allows a few edits per message per second; a card changing every 3 s is enough
    # to watch and keeps thousands of jobs far from the global limit (50 requests/s).
    progress_interval_s = 3.0

    def __init__(self, client: VeoClient, *, login_wait_s: float = 30.0) -> None:
        self._client = client
        self._login_wait_s = login_wait_s
        self._service: JobService | None = None
        # Upload limits of accepted jobs whose card is not posted yet; afterwards the limit
        # lives in the job's refs (see `remember_limit`).
        self._limits: dict[str, int] = {}
        # Private jobs' interaction follow-ups, in memory only (the token is a credential and
        # dies within 15 minutes anyway): their result comes as an ephemeral follow-up while
        # the token lives, by DM after (or after a restart).
        self._private_replies: dict[str, tuple[discord.Webhook, float]] = {}
        self.logged_in = asyncio.Event()

    def bind(self, service: JobService) -> None:
        """Give the surface the job service, which buttons under its messages call."""
        self._service = service

    def remember_limit(self, job_id: str, limit: int) -> None:
        """The interaction's `attachment_size_limit` for a job just accepted. `post_status`
        moves it into the job's refs, where a restarted process finds it."""
        self._limits[job_id] = limit

    def remember_private_reply(self, job_id: str, interaction: discord.Interaction[Any]) -> None:
        """The interaction that asked for a private job, to answer it with the video."""
        expires = interaction.created_at.timestamp() + TOKEN_LIFE_S
        self._private_replies[job_id] = (interaction.followup, expires)

    def _now(self) -> float:
        """The job service's clock (the tests move it), the system's before it is bound."""
        return self._service.clock.now() if self._service is not None else time.time()

    def upload_limit_bytes(self, job: Job) -> int:
        """The largest file the job's channel takes, as Discord told the interaction."""
        stored = _card(job).upload_limit
        if stored is not None:
            return stored
        return self._limits.get(job.id, DEFAULT_UPLOAD_LIMIT)

    async def _logged_in(self) -> None:
        """The scheduler may resume Discord jobs before the client has logged in."""
        try:
            async with asyncio.timeout(self._login_wait_s):
                await self.logged_in.wait()
        except TimeoutError:
            raise DeliveryError("the Discord client is not logged in yet", retryable=True) from None

    def _channel(self, channel_id: int | str) -> discord.PartialMessageable:
        return self._client.get_partial_messageable(int(channel_id))

    async def _open_thread(self, channel_id: int | str, message_id: int | str, job: Job) -> None:
        try:
            await self._client.http.start_thread_with_message(
                int(channel_id),
                int(message_id),
                name=_cards.thread_name_of(job),
                auto_archive_duration=_ONE_DAY_MIN,
            )
        except discord.HTTPException as exc:
            if exc.code != _THREAD_ALREADY_EXISTS:  # someone (or a crashed run) opened it
                raise

    async def _send_to_thread_of(self, job: Job, **message: Any) -> discord.Message:
        """Post into the origin's thread, opening it on its message when it does not exist."""
        origin = job.origin
        assert origin.thread_id is not None
        thread = self._channel(origin.thread_id)
        try:
            return await thread.send(**message)
        except discord.NotFound as exc:
            if exc.code != _UNKNOWN_CHANNEL:
                raise
        await self._open_thread(origin.channel_id, origin.thread_id, job)
        return await thread.send(**message)

    async def _post(self, job: Job, **message: Any) -> discord.Message:
        """Post where the job's results go: its thread when there is one, else the channel."""
        origin = job.origin
        thread = _card(job).thread_id
        if thread is not None:
            return await self._channel(thread).send(**message)
        if origin.thread_id is not None:
            return await self._send_to_thread_of(job, **message)
        return await self._channel(origin.channel_id).send(**message)

    async def post_status(self, job: Job) -> DiscordRefs:
        """Post the status card and open its thread; return where both are."""
        await self._logged_in()
        origin = job.origin
        card = _cards.status_card(job)
        with delivery_errors("posting the status card"):
            buttons = status_view(job.id)
            if origin.thread_id is not None:
                message = await self._send_to_thread_of(
                    job, embed=card, view=buttons, allowed_mentions=_NO_PINGS
                )
            else:
                message = await self._channel(origin.channel_id).send(
                    embed=card, view=buttons, allowed_mentions=_NO_PINGS
                )
        return await self._status_refs(job, message)

    async def find_status(self, job: Job) -> DiscordRefs | None:
        """The job's card already posted (the last process died before recording it): the
        bot's message with the job's footer and no Delete button (the video's message has
        one; the card has Cancel at most)."""
        await self._logged_in()
        origin = job.origin
        where = origin.thread_id or origin.channel_id
        me = self._client.user
        mark = _cards.footer(job.id)
        with delivery_errors("looking for an earlier status card"):
            try:
                async for message in self._channel(where).history(limit=HISTORY_SEARCH):
                    if (
                        me is not None
                        and message.author.id == me.id
                        and delete_custom_id(job.id) not in _custom_ids(message)
                        and any(embed.footer.text == mark for embed in message.embeds)
                    ):
                        return await self._status_refs(job, message)
            except discord.NotFound:
                return None  # no thread yet, so no card in it
        return None

    async def _status_refs(self, job: Job, card: discord.Message) -> DiscordRefs:
        origin = job.origin
        thread: str | None = origin.thread_id
        if thread is None and not origin.direct:  # a DM has no threads
            try:
                with delivery_errors("opening the thread"):
                    await self._open_thread(origin.channel_id, card.id, job)  # or it is there
                thread = str(card.id)
            except DeliveryError as err:
                log.warning("job %s: no thread on the status card: %s", job.id, err)
        return DiscordRefs(
            channel_id=origin.thread_id or origin.channel_id,
            status_message_id=str(card.id),
            thread_id=thread,
            upload_limit=self._limits.pop(job.id, None),
        )

    async def update_progress(self, job: Job) -> None:
        """Edit the status card to show the job's progress."""
        refs = _card(job)
        if refs.channel_id is None or refs.status_message_id is None:
            return  # the card could not be posted; the video still arrives
        await self._logged_in()
        card = self._channel(refs.channel_id).get_partial_message(int(refs.status_message_id))
        with delivery_errors("updating the status card"):
            await card.edit(embed=_cards.status_card(job))

    async def find_delivery(self, job: Job) -> DiscordRefs | None:
        """The video message already posted in the job's thread (a crash before it was recorded);
        a private job's, in the DM with its requester (an ephemeral answer cannot be looked
        for: after a crash the video goes by DM)."""
        await self._logged_in()
        if job.request.private:
            return await self._find_in_dm(job)
        origin = job.origin
        where = _card(job).thread_id or origin.thread_id or origin.channel_id
        me = self._client.user
        marker = delete_custom_id(job.id)
        with delivery_errors("looking for an earlier post of the video"):
            try:
                async for message in self._channel(where).history(limit=HISTORY_SEARCH):
                    if (
                        me is not None
                        and message.author.id == me.id
                        and (marker in _custom_ids(message))
                    ):
                        return DiscordRefs(channel_id=str(where), message_id=str(message.id))
            except discord.NotFound:
                return None  # no thread, so nothing was posted into it
        return None

    async def _find_in_dm(self, job: Job) -> DiscordRefs | None:
        me = self._client.user
        marker = info_custom_id(job.id)
        with delivery_errors("looking for an earlier DM of the video"):
            dm = await self._client.http.start_private_message(int(job.origin.user_id))
            async for message in self._channel(dm["id"]).history(limit=HISTORY_SEARCH):
                if me is not None and message.author.id == me.id and marker in _custom_ids(message):
                    return DiscordRefs(dm_channel_id=str(dm["id"]), message_id=str(message.id))
        return None

    def _can_extend(self, job: Job) -> bool:
        if self._service is None:
            return False
        try:
            return self._service.catalog.get(job.provider, job.model).can_extend
        except InvalidRequest:
            return False  # a model dropped from the catalog since

    async def deliver(self, job: Job, video: Path, *, notice: str | None) -> DiscordRefs:
        """Post the video with its buttons where the job's answers go, and mark the card done."""
        return await self._post_result(
            job,
            texts.video_ready(job.origin.user_id, DISCORD),
            notice,
            action="posting the video",
            file=discord.File(video, filename=f"veo-{job.id}.mp4"),
        )

    async def deliver_link(self, job: Job, link: ResultLink, *, notice: str | None) -> DiscordRefs:
        """The last resort for a video too large for this server even re-encoded. The link
        is written `<url>`: Discord then fetches nothing to preview it (SUPPRESS_EMBEDS would
        do that too, but also hide the message's embed with the parameters)."""
        words = texts.video_ready(job.origin.user_id, DISCORD)
        return await self._post_result(
            job,
            f"{words} {texts.too_large_to_upload(link, DISCORD)}",
            notice,
            action="posting the link to the video",
        )

    async def _private_reply(
        self, job: Job, video: Path, *, link: ResultLink | None, notice: str | None
    ) -> DiscordRefs | None:
        """A private job's video as an ephemeral follow-up to the interaction that asked for
        it, while its token lives; None when it no longer does (then a DM does it)."""
        followup, expires = self._private_replies.pop(job.id, (None, None))
        if followup is None or expires is None or self._now() >= expires:
            return None
        words = texts.private_video_ready()
        extra: dict[str, Any] = {}
        if link is None:
            extra["file"] = discord.File(video, filename=f"veo-{job.id}.mp4")
        else:
            words += " " + texts.too_large_to_upload(link, DISCORD)
        try:
            with delivery_errors("answering with the private video"):
                try:
                    message = await followup.send(
                        content=words + (f" {notice}" if notice else ""),
                        embed=_cards.result_embed(job),
                        view=info_view(job.id),
                        ephemeral=True,
                        wait=True,
                        allowed_mentions=_NO_PINGS,
                        **extra,
                    )
                except (discord.NotFound, discord.Forbidden) as exc:
                    log.info("job %s: the interaction token is gone (%s)", job.id, exc.code)
                    return None
        except DeliveryError as err:
            if err.retryable:
                raise
            log.warning("job %s: no ephemeral answer, sending by DM: %s", job.id, err)
            return None
        await self._finish_card(job, _cards.sent_privately_card(job))
        return DiscordRefs(message_id=str(message.id))

    async def deliver_privately(
        self, job: Job, video: Path, *, link: ResultLink | None, notice: str | None
    ) -> DiscordRefs:
        """The video to the requester alone: a private job's as an ephemeral answer while the
        interaction's token lives, else by DM; any other job's by DM when its channel or
        thread refused it for good. In a DM only Info: the other buttons act on the thread."""
        await self._logged_in()
        if job.request.private:
            answered = await self._private_reply(job, video, link=link, notice=notice)
            if answered is not None:
                return answered
        origin = job.origin
        with delivery_errors("opening a DM with the requester"):
            dm = await self._client.http.start_private_message(int(origin.user_id))
        words = (
            texts.private_video_ready()
            if job.request.private
            else texts.could_not_post_here(origin.channel_id, DISCORD)
        )
        extra: dict[str, Any] = {}
        if link is None:
            extra["file"] = discord.File(video, filename=f"veo-{job.id}.mp4")
        else:
            words += " " + texts.too_large_to_upload(link, DISCORD)
        with delivery_errors("sending the video by DM"):
            message = await self._channel(dm["id"]).send(
                content=words + (f" {notice}" if notice else ""),
                embed=_cards.result_embed(job),
                view=info_view(job.id),
                allowed_mentions=_NO_PINGS,
                **extra,
            )
        await self._finish_card(job, _cards.sent_privately_card(job))  # if it can still be seen
        return DiscordRefs(dm_channel_id=str(message.channel.id), message_id=str(message.id))

    async def share(self, job: Job, channel_id: str, video: Path | None) -> None:
        """Post one of a person's videos from their history into a channel: the file when
        the bot keeps it, else a link to the message that holds it."""
        await self._logged_in()
        words = texts.shared_video(job.origin.user_id, job.request.prompt, DISCORD)
        extra: dict[str, Any] = {}
        refs = DiscordRefs.of(job.delivery_refs) if job.delivery_refs else DiscordRefs()
        if video is not None:
            extra["file"] = discord.File(video, filename=f"veo-{job.id}.mp4")
        elif refs.channel_id is not None and refs.message_id is not None:
            words += " " + _jump_url(job.origin, refs.channel_id, refs.message_id)
        else:
            raise InvalidRequest(texts.nothing_to_post())
        with delivery_errors("sharing a video"):
            await self._channel(channel_id).send(
                content=words,
                embed=_cards.result_embed(job),
                allowed_mentions=_NO_PINGS,
                **extra,
            )

    async def _post_result(
        self, job: Job, words: str, notice: str | None, *, action: str, **extra: Any
    ) -> DiscordRefs:
        """The message with the video (or its link): `words` naming the requester, the
        parameters, the buttons; then the card marked done with a jump to it."""
        await self._logged_in()
        origin = job.origin
        text = words + (f" {notice}" if notice else "")
        requester = discord.AllowedMentions(users=[discord.Object(int(origin.user_id))])
        with delivery_errors(action):
            message = await self._post(
                job,
                content=text,
                embed=_cards.result_embed(job),
                view=result_view(job.id, can_extend=self._can_extend(job)),
                allowed_mentions=requester,
                **extra,
            )
        jump = _jump_url(origin, message.channel.id, message.id)
        await self._finish_card(job, _cards.done_card(job, jump))
        return DiscordRefs(channel_id=str(message.channel.id), message_id=str(message.id))

    async def deliver_takes(
        self, takes: Sequence[TakeVideo], *, failed: Sequence[Job], notice: str | None
    ) -> list[DiscordRefs]:
        """A request's takes as one message with every video (`adapters.discord._takes`)."""
        return await _takes.deliver_takes(self, takes, failed, notice)

    async def post_result_message(
        self, job: Job, *, action: str, **message: Any
    ) -> discord.Message:
        """Post a result message where the job's answers go and mark its card done."""
        await self._logged_in()
        with delivery_errors(action):
            posted = await self._post(job, **message)
        jump = _jump_url(job.origin, posted.channel.id, posted.id)
        await self._finish_card(job, _cards.done_card(job, jump))
        return posted

    def can_extend(self, job: Job) -> bool:
        """Whether the job's model can extend its results (the Extend button)."""
        return self._can_extend(job)

    async def report_failure(self, job: Job, message: str) -> None:
        """Say why the job failed on its status card, or to the requester when there is no card."""
        await self._logged_in()
        refs = _card(job)
        if refs.channel_id is not None and refs.status_message_id is not None:
            with delivery_errors("reporting a failure on the status card"):
                card = self._channel(refs.channel_id).get_partial_message(
                    int(refs.status_message_id)
                )
                await card.edit(embed=_cards.failed_card(job, message), view=None)
            return
        requester = discord.AllowedMentions(users=[discord.Object(int(job.origin.user_id))])
        with delivery_errors("reporting a failure"):
            await self._post(
                job,
                content=f"{DISCORD.mention(job.origin.user_id)} {message}",
                embed=_cards.failed_card(job, message),
                allowed_mentions=requester,
            )

    async def _finish_card(self, job: Job, card: discord.Embed) -> None:
        """Best effort: the video is posted, and a card left at 99 % must not undo that."""
        refs = _card(job)
        if refs.channel_id is None or refs.status_message_id is None:
            return
        try:
            with delivery_errors("finishing the status card"):
                await (
                    self._channel(refs.channel_id)
                    .get_partial_message(int(refs.status_message_id))
                    .edit(embed=card, view=None)
                )
        except DeliveryError as err:
            log.warning("job %s: the status card keeps its last state: %s", job.id, err)
