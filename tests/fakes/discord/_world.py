"""The fake's state and the world it keeps: its clock and ids, the server, its channels and
people, the files people upload (behind signed CDN URLs), and what the bot did there."""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from aiohttp import web

from tests.fakes._base import Fault
from tests.fakes.discord._model import (
    ACK_DEADLINE_S,
    ALL_PERMISSIONS,
    API_PREFIX,
    CDN_TTL_S,
    DEFAULT_UPLOAD_LIMIT,
    DISCORD_EPOCH_MS,
    DM,
    GUILD_TEXT,
    MEMBER_PERMISSIONS,
    PUBLIC_THREAD,
    TOKEN,
    TOKEN_TTL_S,
    Attachment,
    Frame,
    GatewaySession,
    Hold,
    Interaction,
    Message,
    RestCall,
    User,
    iso,
)

T = TypeVar("T")


class World:
    """What the fake holds, and what people and the clock do to it without the bot."""

    def __init__(
        self,
        *,
        token: str = TOKEN,
        attachment_size_limit: int = DEFAULT_UPLOAD_LIMIT,
        ack_deadline_s: float = ACK_DEADLINE_S,
        token_ttl_s: float = TOKEN_TTL_S,
    ) -> None:
        self.token = token
        self.attachment_size_limit = attachment_size_limit
        self.ack_deadline_s = ack_deadline_s
        self.token_ttl_s = token_ttl_s
        self._offset_s = 0.0
        self._last_snowflake = 0
        self._cdn_key = secrets.token_bytes(16)
        self.application_id = self.snowflake()
        self.bot = User(self.application_id, "Veo", bot=True, permissions=ALL_PERMISSIONS)
        self.guild_id = self.snowflake()
        self.owner = User(self.snowflake(), "owner", permissions=ALL_PERMISSIONS)
        self.users: dict[int, User] = {u.id: u for u in (self.bot, self.owner)}
        self.channels: dict[int, dict[str, Any]] = {}
        self.dms: dict[int, int] = {}  # user id -> their DM channel with the bot
        self.no_access: set[int] = set()  # channels the bot was removed from
        self.channel_id = self.add_channel("general")
        self.messages: dict[int, Message] = {}
        self.attachments: dict[int, Attachment] = {}
        self.interactions: dict[int, Interaction] = {}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}  # None: global
        self.rest: list[RestCall] = []
        self.frames: list[Frame] = []
        self.connections: list[tuple[str, dict[str, str]]] = []  # gateway path and query
        self.violations: list[str] = []
        self.faults: list[Fault] = []
        self.holds: list[Hold] = []
        self.identifies = 0
        self.resumes = 0
        # Shards: what `GET /gateway/bot` recommends, each IDENTIFY's `[shard_id, shard_count]`
        # (`[0, 1]` when it named none), and the live session of each shard.
        self.recommended_shards = 1
        self.max_concurrency = 1
        # `GET /gateway/bot` answers only once this many have asked (replicas starting together).
        self.gateway_bot_gate = 0
        self._gateway_bot_asked = 0
        self.identified: list[tuple[int, int]] = []
        self.sessions: dict[int, GatewaySession] = {}
        self._shard_count = 1
        self._sockets: list[web.WebSocketResponse] = []
        self._paths: dict[web.WebSocketResponse, str] = {}
        self.cdn_requests: list[str] = []
        self._command_ids: dict[tuple[int | None, str, int], int] = {}
        self._changed = asyncio.Event()
        self._connected_at = self.now()
        self.base_url = ""  # once the server is listening

    @property
    def api_base(self) -> str:
        """What DISCORD_API_BASE should be."""
        return f"{self.base_url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """What DISCORD_GATEWAY_URL should be."""
        return self.base_url.replace("http://", "ws://", 1) + "/gateway"

    def now(self) -> float:
        return time.time() + self._offset_s

    def advance(self, seconds: float) -> None:
        """Move the fake's clock: interaction tokens and signed URLs age accordingly."""
        self._offset_s += seconds

    def snowflake(self) -> int:
        stamp = (int(self.now() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last_snowflake = max(self._last_snowflake + 1, stamp)
        return self._last_snowflake

    # --- the world ----------------------------------------------------------------------

    def add_user(
        self, name: str, *, permissions: int = MEMBER_PERMISSIONS, locale: str = "en-US"
    ) -> User:
        user = User(self.snowflake(), name, permissions=permissions, locale=locale)
        self.users[user.id] = user
        return user

    def add_channel(self, name: str) -> int:
        channel_id = self.snowflake()
        self.channels[channel_id] = {
            "id": str(channel_id),
            "type": GUILD_TEXT,
            "guild_id": str(self.guild_id),
            "name": name,
            "position": len(self.channels),
            "permission_overwrites": [],
            "parent_id": None,
            "topic": None,
            "nsfw": False,
            "rate_limit_per_user": 0,
            "last_message_id": None,
            "flags": 0,
        }
        return channel_id

    def upload(
        self,
        data: bytes,
        filename: str,
        content_type: str | None = None,
        *,
        size: tuple[int, int] | None = None,
    ) -> Attachment:
        """A file as a person attached it: stored on the CDN behind a signed, expiring URL."""
        attachment_id = self.snowflake()
        channel = self.channel_id
        issued = int(self.now())
        expires = issued + int(CDN_TTL_S)
        path = f"/attachments/{channel}/{attachment_id}/{filename}"
        signature = self._sign(path, expires)
        url = f"{self.base_url}{path}?ex={expires:x}&is={issued:x}&hm={signature}&"
        attachment = Attachment(
            attachment_id,
            filename,
            content_type,
            data,
            url,
            width=size[0] if size else None,
            height=size[1] if size else None,
        )
        self.attachments[attachment_id] = attachment
        return attachment

    def post_as(
        self,
        user: User,
        content: str = "",
        *,
        attachments: Sequence[Attachment] = (),
        channel_id: int | None = None,
    ) -> Message:
        """A message a person wrote (e.g. an image someone wants animated)."""
        message = Message(
            id=self.snowflake(),
            channel_id=channel_id or self.channel_id,
            guild_id=self.guild_id,
            author=user,
            content=content,
            attachments=list(attachments),
            created_at=self.now(),
        )
        self._store(message)
        return message

    def add_thread(self, name: str, *, on: Message | None = None) -> int:
        """A thread people opened themselves (on a message, or on its own), before the bot
        connects: GUILD_CREATE lists it."""
        thread_id = on.id if on is not None else self.snowflake()
        thread = self._thread_payload(thread_id, self.channel_id, name, owner=self.owner)
        self.channels[thread_id] = thread
        if on is not None:
            on.thread = thread
        return thread_id

    def remove_bot(self, channel_id: int) -> None:
        """Someone takes the bot's access to a channel (and so to its threads)."""
        self.no_access.add(channel_id)

    def dm_channel(self, user: User) -> int:
        """The person's DM channel with the bot, made the first time: the same every time."""
        channel_id = self.dms.get(user.id)
        if channel_id is None:
            channel_id = self.dms[user.id] = self.snowflake()
            self.channels[channel_id] = {
                "id": str(channel_id),
                "type": DM,
                "last_message_id": None,
                "flags": 0,
                "recipients": [user.payload()],
            }
        return channel_id

    def dm_of(self, user: User) -> int | None:
        """The DM channel the bot opened with `user`, if any."""
        return self.dms.get(user.id)

    # --- what the bot did ---------------------------------------------------------------

    def messages_in(self, channel_id: int) -> list[Message]:
        """Messages everyone sees in a channel or thread, oldest first."""
        return sorted(
            (
                m
                for m in self.messages.values()
                if m.channel_id == channel_id and not m.deleted and not m.ephemeral
            ),
            key=lambda m: m.id,
        )

    def bot_messages_in(self, channel_id: int) -> list[Message]:
        return [m for m in self.messages_in(channel_id) if m.author.id == self.bot.id]

    def threads(self) -> list[dict[str, Any]]:
        return [c for c in self.channels.values() if c["type"] == PUBLIC_THREAD]

    def calls(self, method: str, pattern: str) -> list[RestCall]:
        """REST calls whose path (after /api/v10) matches a glob, e.g. `/channels/*/messages`."""
        return [
            c
            for c in self.rest
            if c.method == method and fnmatch.fnmatchcase(c.path, API_PREFIX + pattern)
        ]

    async def wait_for(self, check: Callable[[], T | None], *, timeout_s: float = 10.0) -> T:
        """Wait until `check()` returns something truthy; it is asked after every change."""
        async with asyncio.timeout(timeout_s):
            while True:
                changed = self._changed
                value = check()
                if value:
                    return value
                await changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # --- shared by the handlers ---------------------------------------------------------

    def _store(self, message: Message) -> None:
        self.messages[message.id] = message
        channel = self.channels.get(message.channel_id)
        if channel is not None and not message.ephemeral:
            channel["last_message_id"] = str(message.id)
            if channel["type"] == PUBLIC_THREAD:
                channel["message_count"] += 1
                channel["total_message_sent"] += 1

    def _thread_payload(
        self, thread_id: int, parent: int, name: str, *, owner: User
    ) -> dict[str, Any]:
        now = self.now()
        return {
            "id": str(thread_id),
            "type": PUBLIC_THREAD,
            "guild_id": str(self.guild_id),
            "parent_id": str(parent),
            "owner_id": str(owner.id),
            "name": name,
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "rate_limit_per_user": 0,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": iso(now),
                "locked": False,
                "create_timestamp": iso(now),
            },
        }

    def _sign(self, path: str, expires: int) -> str:
        return hmac.new(self._cdn_key, f"{path}:{expires}".encode(), hashlib.sha256).hexdigest()
