"""Where a job's messages are, in each platform's own ids: its status card (`Origin.refs`) and
its result (`Job.delivery_refs`). One structure per platform, plain ids only, so that a new
process can find them again.

They are stored as a flat JSON object of strings under the keys earlier versions used
(`{"channel": "…", "status": "…"}`), so rows written before these types load as they are.
Which structure a stored object becomes is decided by the job's platform (`load_refs`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self

from pydantic import BaseModel, ConfigDict, Field


class Refs(BaseModel):
    """What every platform's refs may carry, which the core itself adds to a result's:
    the video's path on this machine (a console delivery, or a video kept after the place it
    was asked for refused it) and, for a link posted instead of the file, when it expires.

    Used as it is for a platform this version has no structure for (a test's stand-in), whose
    ids are then kept as they were given."""

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)

    path: str | None = None
    link_expires_at: int | None = None  # epoch seconds

    def __bool__(self) -> bool:
        """Whether anything was recorded (a card or a result that was never posted: no)."""
        return bool(self.stored())

    def stored(self) -> dict[str, str]:
        """The refs as they are stored: strings under the stored keys, unset ones left out."""
        dumped = self.model_dump(by_alias=True, exclude_none=True)
        return {key: str(value) for key, value in dumped.items()}

    @classmethod
    def of(cls, refs: Refs) -> Self:
        """`refs` as this platform's structure (they are already, for a job of its own)."""
        return refs if isinstance(refs, cls) else cls.model_validate(refs.stored())


class DiscordRefs(Refs):
    """A Discord job's messages: the card, the thread opened on it, the video's message."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    # The channel (or thread) the message is in: the card's, or the result's.
    channel_id: str | None = Field(default=None, alias="channel")
    status_message_id: str | None = Field(default=None, alias="status")
    thread_id: str | None = Field(default=None, alias="thread")  # where results go
    message_id: str | None = Field(default=None, alias="message")  # the result's message
    dm_channel_id: str | None = Field(default=None, alias="dm_channel")  # sent privately
    # The interaction's attachment_size_limit, kept for a process that resumes the job.
    upload_limit: int | None = None


class SlackRefs(Refs):
    """A Slack job's messages: the card and its thread, the video file and its message."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    status_ts: str | None = None  # the card
    thread_ts: str | None = None  # the thread the job's messages go into
    result_ts: str | None = None  # the message with the buttons under the video
    file_id: str | None = None  # the video
    dm_channel: str | None = None  # the direct message it was sent in, sent privately


class ConsoleRefs(Refs):
    """A terminal job's: the job id its first line named, the file written (`path`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    card: str | None = None
    url: str | None = None  # a link delivery (never made in a terminal; kept for the contract)


_BY_PLATFORM: dict[str, type[Refs]] = {
    "discord": DiscordRefs,
    "slack": SlackRefs,
    "console": ConsoleRefs,
}


def load_refs(platform: str, stored: Mapping[str, object] | Refs | None) -> Refs:
    """The refs of a job of `platform`, from what was stored (or built) for it."""
    kind = _BY_PLATFORM.get(platform, Refs)
    if stored is None:
        return kind()
    if isinstance(stored, Refs):
        return kind.of(stored)
    return kind.model_validate(dict(stored))
