"""A request's several takes on Discord: one message with every video made as an attachment
(each fitted to the per-file upload limit by the core, or a link when even that fails), the
takes that failed named, a Re-roll per take and the usual buttons for the first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import discord

from adapters.discord import _cards
from adapters.discord._buttons import (
    DeleteButton,
    ExtendButton,
    InfoButton,
    RerollButton,
)
from adapters.discord._markup import DISCORD
from bot import texts
from bot.models import Job
from bot.refs import DiscordRefs
from bot.variants import TakeVideo


class Poster(Protocol):
    """What of the Discord surface posting the takes needs (`DiscordSurface`)."""

    async def post_result_message(
        self, job: Job, *, action: str, **message: Any
    ) -> discord.Message: ...

    def can_extend(self, job: Job) -> bool: ...


# Discord's limit of attachments on one message (a request has at most 4 takes).
MAX_FILES = 10


def takes_view(takes: Sequence[TakeVideo], *, can_extend: bool) -> discord.ui.View:
    """A Re-roll per take, named by its number, then Extend, Delete and Info of the first."""
    view = discord.ui.View(timeout=None)
    for take in takes:
        button = RerollButton(take.job.id)
        button.item.label = texts.reroll_take_label(take.number)
        view.add_item(button)
    first = takes[0].job.id
    if can_extend:
        view.add_item(ExtendButton(first))
    view.add_item(DeleteButton(first))
    view.add_item(InfoButton(first))
    return view


def takes_words(takes: Sequence[TakeVideo], failed: Sequence[Job], notice: str | None) -> str:
    """The message's words: the requester told, links for takes too large, failures named."""
    first = takes[0].job
    lines = [texts.takes_ready(first.origin.user_id, DISCORD, len(takes))]
    lines += [
        texts.take_link(take.number, take.link.url, take.link.expires_at, DISCORD)
        for take in takes
        if take.link is not None
    ]
    if failed:
        refunded = sum(job.cost_s for job in failed)
        lines.append(texts.takes_failed([job.take + 1 for job in failed], refunded))
    if notice:
        lines.append(notice)
    return "\n".join(lines)


async def deliver_takes(
    surface: Poster,
    takes: Sequence[TakeVideo],
    failed: Sequence[Job],
    notice: str | None,
) -> list[DiscordRefs]:
    """Post the takes as one message in the first take's thread; mark its card done."""
    first = takes[0].job
    files = [
        discord.File(take.video, filename=f"veo-{take.job.id}.mp4")
        for take in takes
        if take.video is not None
    ][:MAX_FILES]
    requester = discord.AllowedMentions(users=[discord.Object(int(first.origin.user_id))])
    extra: dict[str, Any] = {"files": files} if files else {}
    message = await surface.post_result_message(
        first,
        content=takes_words(takes, failed, notice),
        embed=_cards.result_embed(first),
        view=takes_view(takes, can_extend=surface.can_extend(first)),
        allowed_mentions=requester,
        action="posting the videos",
        **extra,
    )
    refs = DiscordRefs(channel_id=str(message.channel.id), message_id=str(message.id))
    return [refs for _ in takes]
