"""A fake Discord: one aiohttp server on 127.0.0.1 that speaks the gateway (a websocket with
HELLO, heartbeats, IDENTIFY -> READY + GUILD_CREATE, RESUME with replay, RECONNECT), the REST
API v10 that discord.py calls, and a CDN with signed, expiring attachment URLs.

It enforces what the real one enforces and discord.py depends on: JSON answers
carry exactly `Content-Type: application/json`; an interaction is acknowledged once (a second
callback: 400, code 40060) and within `ack_deadline_s` (later: 404, code 10062); the
interaction token works for `token_ttl_s` (15 minutes; later: 401, code 50027); an attachment
above `attachment_size_limit` is refused (413, code 40005); messages, embeds, components,
modals and autocomplete answers are checked against Discord's limits (400, code 50035); a
thread on a message can be started once (400, code 160004) and takes the message's id.
Everything refused that way is also written to `violations`, which a test expects empty.

It plays the people too: `slash`, `autocomplete`, `message_command`, `click` and `submit_modal`
send INTERACTION_CREATE over the gateway, built from the commands the bot registered, and
return an `Interaction` that collects the bot's answers. What the bot posted is kept per
channel and thread (`messages_in`), with attachments (bytes included), components and the
links Discord would fetch to preview (`previewed_links`). Every REST call (`rest`) and gateway
frame (`frames`) is recorded.

Direct messages: `POST /users/@me/channels` opens (or finds) the DM channel with a user, where
the bot posts like anywhere else, unless the user takes no DMs (`User.dms_open`: 403, code
50007). The world changes under the bot: `remove_bot(channel)` takes its access to a channel and
its threads (403, code 50001), `delete_channel(channel)` deletes a channel or thread (404, code
10003), `lock_thread(thread)` archives and locks one (403, code 50083). Those refusals follow
from what people did, not from the bot's mistakes, so they are not `violations`.

Faults: `inject(Fault(...))` (tests.fakes._base; JSON bodies are sent with Discord's exact
content type), `rate_limit(...)` (429 with `Via` and `retry_after`, which discord.py retries),
`server_error(...)`, `hold(...)` (do the work, answer only when released: a bot that dies while
waiting), `reconnect()` (op 7; the bot must RESUME), `advance(seconds)` (tokens and signed URLs
age), and `ack_deadline_s` to make the acknowledgement check as strict as a test needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import hashlib
import hmac
import json
import math
import mimetypes
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import BodyPartReader, web

from tests.fakes._base import Fault

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

TOKEN = "MTAxNTk5.fake-discord.bot-token"  # a fake's credential
API_PREFIX = "/api/v10"
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024  # every server without boosts, since January 2025
ACK_DEADLINE_S = 3.0
TOKEN_TTL_S = 15 * 60.0
CDN_TTL_S = 24 * 3600.0
HEARTBEAT_INTERVAL_MS = 41_250
DISCORD_EPOCH_MS = 1_420_070_400_000

# Permission bits (discord.com/developers/docs/topics/permissions).
MANAGE_GUILD = 1 << 5
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_APPLICATION_COMMANDS = 1 << 31
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 51) - 1
MEMBER_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS
)

SUPPRESS_EMBEDS = 1 << 2
EPHEMERAL = 1 << 6
LOADING = 1 << 7
# A link in a message's content, with the angle brackets that tell Discord not to preview it.
_CONTENT_LINK = re.compile(r"<?https?://[^\s<>]+>?")

GUILD_TEXT = 0
DM = 1
PUBLIC_THREAD = 11

# Interaction types and the callback types Discord accepts for each.
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
CALLBACKS_ALLOWED: dict[int, frozenset[int]] = {
    APPLICATION_COMMAND: frozenset({4, 5, 9}),
    MESSAGE_COMPONENT: frozenset({4, 5, 6, 7, 9}),
    AUTOCOMPLETE: frozenset({8}),
    MODAL_SUBMIT: frozenset({4, 5, 6, 7}),
}
CHAT_INPUT, MESSAGE_COMMAND = 1, 3
SUB_COMMAND, USER_OPTION, ATTACHMENT_OPTION = 1, 6, 11
_COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat()


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    # Exactly `application/json`: aiohttp's own json_response adds "; charset=utf-8", and
    # discord.py then takes the body for text (a 429 would read as a Cloudflare ban).
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


class DiscordError(Exception):
    """An answer in Discord's error shape: `{"code": ..., "message": ...}`. `bots_fault`:
    a request the bot should not have made (a `violation`), not a refusal people caused."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: dict[str, Any] | None = None,
        *,
        bots_fault: bool = True,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.bots_fault = bots_fault

    def response(self) -> web.Response:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return json_response(body, self.status)


def invalid_form(problem: str) -> DiscordError:
    return DiscordError(400, 50035, "Invalid Form Body", {"_errors": [{"message": problem}]})


@dataclass
class User:
    id: int
    name: str
    bot: bool = False
    permissions: int = MEMBER_PERMISSIONS
    dms_open: bool = True  # False: "Allow direct messages from server members" is off

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.name,
            "discriminator": "0",
            "global_name": self.name,
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
        }

    def member(self, joined_at: float) -> dict[str, Any]:
        return {
            "user": self.payload(),
            "nick": None,
            "avatar": None,
            "roles": [],
            "joined_at": _iso(joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "permissions": str(self.permissions),
        }


@dataclass
class Attachment:
    id: int
    filename: str
    content_type: str | None
    data: bytes
    url: str
    width: int | None = None
    height: int | None = None

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": len(self.data),
            "url": self.url,
            "proxy_url": self.url,
        }
        if self.content_type is not None:
            body["content_type"] = self.content_type
        if self.width is not None and self.height is not None:
            body["width"], body["height"] = self.width, self.height
        return body


@dataclass
class Message:
    id: int
    channel_id: int
    guild_id: int
    author: User
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    flags: int = 0
    created_at: float = 0.0
    edited_at: float | None = None
    webhook_id: int | None = None
    interaction_id: int | None = None
    thread: dict[str, Any] | None = None  # the thread started on this message
    deleted: bool = False
    edits: int = 0

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def previewed_links(self) -> list[str]:
        """The links Discord's crawler fetches to put a preview under the message: every
        http(s) link in the content, except one written `<url>` or in a message flagged
        SUPPRESS_EMBEDS (which also hides the bot's own embeds)."""
        if self.flags & SUPPRESS_EMBEDS:
            return []
        return [
            link.group()
            for link in _CONTENT_LINK.finditer(self.content)
            if not (link.group().startswith("<") and link.group().endswith(">"))
        ]

    @property
    def videos(self) -> list[Attachment]:
        return [a for a in self.attachments if (a.content_type or "").startswith("video/")]

    def custom_ids(self) -> list[str]:
        return [c["custom_id"] for c in _walk(self.components) if "custom_id" in c]

    def button(self, label: str) -> dict[str, Any]:
        for component in _walk(self.components):
            if component.get("type") == 2 and component.get("label") == label:
                return component
        raise KeyError(f"no button {label!r} on message {self.id}")

    def text(self) -> str:
        """Everything a person reads in the message: content and embed text."""
        parts = [self.content]
        for embed in self.embeds:
            parts += [embed.get("title", ""), embed.get("description", "")]
            for item in embed.get("fields", []):
                parts += [item.get("name", ""), item.get("value", "")]
            parts.append(embed.get("footer", {}).get("text", ""))
        return "\n".join(p for p in parts if p)

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "author": self.author.payload(),
            "content": self.content,
            "timestamp": _iso(self.created_at),
            "edited_timestamp": None if self.edited_at is None else _iso(self.edited_at),
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [a.payload() for a in self.attachments],
            "embeds": self.embeds,
            "components": self.components,
            "pinned": False,
            "type": 0,
            "flags": self.flags,
        }
        if self.guild_id:  # messages in DMs have none
            body["guild_id"] = str(self.guild_id)
        if self.webhook_id is not None:
            body["webhook_id"] = str(self.webhook_id)
            body["application_id"] = str(self.webhook_id)
        if self.thread is not None:
            body["thread"] = self.thread
        return body


def _walk(components: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for component in components:
        found.append(component)
        found += _walk(component.get("components", []))
        if isinstance(component.get("component"), dict):
            found += _walk([component["component"]])
    return found


@dataclass
class Interaction:
    """One interaction the fake sent, and everything the bot answered to it."""

    id: int
    token: str
    type: int
    payload: dict[str, Any]
    created_at: float
    user: User
    channel_id: int
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    original: Message | None = None
    followups: list[Message] = field(default_factory=list)
    acked_after_s: float | None = None

    @property
    def callback_type(self) -> int | None:
        return self.callbacks[0]["type"] if self.callbacks else None

    @property
    def modal(self) -> dict[str, Any] | None:
        if self.callbacks and self.callbacks[0]["type"] == 9:
            data: dict[str, Any] = self.callbacks[0]["data"]
            return data
        return None

    @property
    def choices(self) -> list[dict[str, Any]]:
        if self.callbacks and self.callbacks[0]["type"] == 8:
            return list(self.callbacks[0]["data"]["choices"])
        return []

    @property
    def replies(self) -> list[Message]:
        """The response and the follow-ups, as the person sees them."""
        first = [self.original] if self.original is not None else []
        return [m for m in first + self.followups if not m.deleted]

    def reply_text(self) -> str:
        """What the bot told the person so far ("" while it is still thinking)."""
        return "\n".join(m.text() for m in self.replies if not m.flags & LOADING).strip()


@dataclass
class RestCall:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: list[tuple[str, str, bytes]]  # (filename, content type, bytes)
    authorized: bool
    status: int = 0


@dataclass
class Frame:
    """One gateway message: `out` from the fake to the bot, `in` from the bot."""

    direction: str
    path: str
    op: int
    t: str | None
    s: int | None
    d: Any


@dataclass
class Hold:
    """Does the work of one matching request but keeps the answer until released."""

    method: str
    path: str
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    _released: asyncio.Event = field(default_factory=asyncio.Event)
    used: bool = False

    def release(self) -> None:
        self._released.set()


@dataclass
class _Session:
    id: str
    seq: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)
    socket: web.WebSocketResponse | None = None


@dataclass
class _Body:
    json: Any = None
    files: list[tuple[str, str, bytes]] = field(default_factory=list)


BODY = web.RequestKey("body", _Body)


class FakeDiscord:
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
        self._session: _Session | None = None
        self._sockets: list[web.WebSocketResponse] = []
        self._paths: dict[web.WebSocketResponse, str] = {}
        self.cdn_requests: list[str] = []
        self._command_ids: dict[tuple[int | None, str, int], int] = {}
        self._changed = asyncio.Event()
        self._connected_at = self.now()
        api = API_PREFIX
        self.app = web.Application(middlewares=[self._middleware], client_max_size=256 * 1024**2)
        self.app.add_routes(
            [
                web.get(f"{api}/users/@me", self._me),
                web.post(f"{api}/users/@me/channels", self._open_dm),
                web.get(f"{api}/oauth2/applications/@me", self._application),
                web.get(f"{api}/gateway", self._gateway_info),
                web.get(f"{api}/gateway/bot", self._gateway_info),
                web.put(f"{api}/applications/{{app}}/commands", self._put_commands),
                web.get(f"{api}/applications/{{app}}/commands", self._get_commands),
                web.put(
                    f"{api}/applications/{{app}}/guilds/{{guild}}/commands", self._put_commands
                ),
                web.get(
                    f"{api}/applications/{{app}}/guilds/{{guild}}/commands", self._get_commands
                ),
                web.post(f"{api}/interactions/{{id}}/{{token}}/callback", self._callback),
                web.post(f"{api}/webhooks/{{app}}/{{token}}", self._followup),
                web.route("*", f"{api}/webhooks/{{app}}/{{token}}/messages/{{id}}", self._webhook),
                web.get(f"{api}/channels/{{channel}}", self._get_channel),
                web.post(f"{api}/channels/{{channel}}/messages", self._create_message),
                web.get(f"{api}/channels/{{channel}}/messages", self._history),
                web.route("*", f"{api}/channels/{{channel}}/messages/{{id}}", self._message),
                web.post(f"{api}/channels/{{channel}}/messages/{{id}}/threads", self._thread),
                web.get("/attachments/{channel}/{id}/{filename}", self._cdn),
                web.get("/gateway", self._gateway),
                web.get("/resume", self._gateway),
            ]
        )
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # --- life ---------------------------------------------------------------------------

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)  # bursts in benches
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.base_url

    async def close(self) -> None:
        for hold in self.holds:
            hold.release()
        for ws in list(self._sockets):
            await ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

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

    def add_user(self, name: str, *, permissions: int = MEMBER_PERMISSIONS) -> User:
        user = User(self.snowflake(), name, permissions=permissions)
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

    async def delete_channel(self, channel_id: int) -> None:
        """Someone deletes a channel or a thread, and every message in it."""
        channel = self.channels.pop(channel_id)
        for message in self.messages.values():
            if message.channel_id == channel_id:
                message.deleted = True
        if channel["type"] == PUBLIC_THREAD:
            keys = ("id", "guild_id", "parent_id", "type")
            await self.dispatch("THREAD_DELETE", {key: channel[key] for key in keys})
        else:
            await self.dispatch("CHANNEL_DELETE", channel)

    async def lock_thread(self, thread_id: int) -> None:
        """A moderator archives and locks a thread: nobody without Manage Threads posts."""
        thread = self.channels[thread_id]
        thread["thread_metadata"].update(archived=True, locked=True)
        await self.dispatch("THREAD_UPDATE", thread)

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

    # --- faults -------------------------------------------------------------------------

    def inject(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def rate_limit(
        self, method: str, pattern: str, *, retry_after: float = 0.05, times: int = 1
    ) -> None:
        """429 the way Discord sends it: through its proxy (`Via`), `retry_after` in the body."""
        self.inject(
            Fault(
                API_PREFIX + pattern,
                method=method,
                status=429,
                body={
                    "message": "You are being rate limited.",
                    "retry_after": retry_after,
                    "global": False,
                    "code": 0,
                },
                headers={
                    "Via": "1.1 google",
                    "Retry-After": str(math.ceil(retry_after)),
                    "X-RateLimit-Scope": "user",
                },
                times=times,
            )
        )

    def server_error(self, method: str, pattern: str, *, status: int = 503, times: int = 1) -> None:
        # discord.py retries 500, 502, 504 and 524 itself (sleeping 1 s, 3 s...); 503 reaches
        # the bot's own error handling at once.
        self.inject(
            Fault(
                API_PREFIX + pattern,
                method=method,
                status=status,
                body={"message": f"{status}: Service Unavailable", "code": 0},
                times=times,
            )
        )

    def hold(self, method: str, pattern: str) -> Hold:
        hold = Hold(method, API_PREFIX + pattern)
        self.holds.append(hold)
        return hold

    # --- the gateway --------------------------------------------------------------------

    async def wait_ready(self, *, identifies: int = 1, timeout_s: float = 10.0) -> None:
        """Until the bot has identified (the `identifies`-th time since the fake started: a
        restarted bot identifies anew) and been sent READY and GUILD_CREATE on a live socket."""

        def ready() -> bool:
            session = self._session
            return (
                self.identifies >= identifies
                and session is not None
                and session.socket is not None
                and not session.socket.closed
                and session.seq >= 2
            )

        await self.wait_for(ready, timeout_s=timeout_s)

    async def dispatch(self, event: str, data: Any) -> None:
        """Send a DISPATCH (op 0) to the bot, or keep it for the RESUME if it is away."""
        session = self._session
        assert session is not None, "the bot has not identified on the gateway"
        session.seq += 1
        frame = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.sent.append(frame)
        socket = session.socket
        if socket is not None and not socket.closed:
            # If the bot is going away, it gets the event again when it resumes.
            with contextlib.suppress(ConnectionError):
                await self._send(socket, self._paths[socket], frame)

    async def reconnect(self) -> None:
        """Ask the bot to reconnect (op 7), as Discord does before moving a session; returns
        once it has resumed. What is dispatched meanwhile is replayed on RESUME."""
        session = self._session
        assert session is not None and session.socket is not None
        resumed = self.resumes
        socket, session.socket = session.socket, None
        await self._send(socket, "/gateway", {"op": 7, "d": None, "s": None, "t": None})
        await self.wait_for(lambda: self.resumes > resumed)

    async def _send(self, ws: web.WebSocketResponse, path: str, frame: dict[str, Any]) -> None:
        self.frames.append(
            Frame("out", path, frame["op"], frame.get("t"), frame.get("s"), frame.get("d"))
        )
        await ws.send_str(json.dumps(frame))

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        path = request.path
        self._sockets.append(ws)
        self._paths[ws] = path
        self.connections.append((path, dict(request.query)))
        try:
            await self._send(
                ws,
                path,
                {
                    "op": 10,
                    "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS},
                    "s": None,
                    "t": None,
                },
            )
            async for message in ws:
                if message.type.name != "TEXT":
                    continue  # the bot sends JSON text frames
                frame = json.loads(message.data)
                self.frames.append(
                    Frame("in", path, frame["op"], frame.get("t"), frame.get("s"), frame.get("d"))
                )
                await self._on_frame(ws, path, frame)
        finally:
            self._sockets.remove(ws)
            self._paths.pop(ws, None)
            if self._session is not None and self._session.socket is ws:
                self._session.socket = None
            self._notify()
        return ws

    async def _on_frame(self, ws: web.WebSocketResponse, path: str, frame: dict[str, Any]) -> None:
        op, data = frame["op"], frame.get("d") or {}
        if op == 1:
            await self._send(ws, path, {"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            if data.get("token") != self.token:
                self.violations.append("IDENTIFY with a wrong token")
                await ws.close(code=4004, message=b"Authentication failed.")
                return
            self.identifies += 1
            self._session = _Session(secrets.token_hex(16), socket=ws)
            self._connected_at = self.now()
            await self.dispatch("READY", self._ready_payload(self._session.id))
            await self.dispatch("GUILD_CREATE", self._guild_payload())
            self._notify()
        elif op == 6:
            session = self._session
            if (
                session is None
                or data.get("session_id") != session.id
                or (data.get("token") != self.token)
            ):
                await self._send(ws, path, {"op": 9, "d": False, "s": None, "t": None})
                return
            if path != "/resume":
                self.violations.append("RESUME sent to the gateway URL, not resume_gateway_url")
            seen = data.get("seq") or 0
            while missed := [f for f in session.sent if f["s"] > seen]:
                for frame in missed:  # what the bot missed, in order, then live events
                    await self._send(ws, path, frame)
                    seen = frame["s"]
            session.socket = ws
            self.resumes += 1
            await self.dispatch("RESUMED", {})  # discord.py writes into it
            self._notify()

    def _ready_payload(self, session_id: str) -> dict[str, Any]:
        return {
            "v": 10,
            "user": {**self.bot.payload(), "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(self.guild_id), "unavailable": True}],
            "session_id": session_id,
            "session_type": "normal",
            "resume_gateway_url": self.base_url.replace("http://", "ws://", 1) + "/resume",
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
        }

    def _guild_payload(self) -> dict[str, Any]:
        joined = self._connected_at
        return {
            "id": str(self.guild_id),
            "name": "Veo test server",
            "icon": None,
            "owner_id": str(self.owner.id),
            "roles": [
                {
                    "id": str(self.guild_id),
                    "name": "@everyone",
                    "permissions": str(MEMBER_PERMISSIONS),
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                }
            ],
            "emojis": [],
            "stickers": [],
            "features": [],
            "member_count": len(self.users),
            "members": [self.bot.member(joined)],
            "channels": [c for c in self.channels.values() if c["type"] == GUILD_TEXT],
            "threads": self.threads(),
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "large": False,
            "unavailable": False,
            "joined_at": _iso(joined),
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "system_channel_flags": 0,
            "afk_timeout": 300,
        }

    # --- what people do -----------------------------------------------------------------

    async def slash(
        self,
        name: str,
        options: Mapping[str, object] | None = None,
        *,
        user: User | None = None,
        channel_id: int | None = None,
    ) -> Interaction:
        """A person runs `/name` with these options (attachments as `upload()` returned them,
        users as `User`s); `name` may hold a subcommand: `"veo-admin limits"`."""
        top, _, sub = name.partition(" ")
        command = self.registered(top, CHAT_INPUT)
        if sub:
            subcommand = self._option(command, sub)
            assert subcommand["type"] == SUB_COMMAND, f"{sub!r} is not a subcommand of /{top}"
            given, resolved = self._options(subcommand, options or {})
            given = [{"name": sub, "type": SUB_COMMAND, "options": given}]
        else:
            given, resolved = self._options(command, options or {})
        data: dict[str, Any] = {
            "id": command["id"],
            "name": top,
            "type": CHAT_INPUT,
            "options": given,
        }
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        if resolved:
            data["resolved"] = resolved
        return await self._interact(APPLICATION_COMMAND, data, user=user, channel_id=channel_id)

    async def autocomplete(
        self,
        name: str,
        focused: str,
        typed: str = "",
        options: Mapping[str, object] | None = None,
        *,
        user: User | None = None,
    ) -> list[dict[str, Any]]:
        """A person types `typed` into option `focused`; returns the choices the bot offered."""
        command = self.registered(name, CHAT_INPUT)
        given, _ = self._options(command, options or {}, partial=True)
        given.append(
            {
                "name": focused,
                "type": self._option(command, focused)["type"],
                "value": typed,
                "focused": True,
            }
        )
        data = {"id": command["id"], "name": name, "type": CHAT_INPUT, "options": given}
        interaction = await self._interact(AUTOCOMPLETE, data, user=user)
        await self.wait_for(lambda: interaction.callbacks)
        return interaction.choices

    async def message_command(
        self, name: str, message: Message, *, user: User | None = None
    ) -> Interaction:
        """A person picks `name` from a message's Apps menu."""
        command = self.registered(name, MESSAGE_COMMAND)
        data: dict[str, Any] = {
            "id": command["id"],
            "name": name,
            "type": MESSAGE_COMMAND,
            "target_id": str(message.id),
            "resolved": {"messages": {str(message.id): message.payload()}},
        }
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        return await self._interact(
            APPLICATION_COMMAND, data, user=user, channel_id=message.channel_id
        )

    async def click(self, message: Message, label: str, *, user: User | None = None) -> Interaction:
        """A person clicks the button labelled `label` on a message."""
        button = message.button(label)
        if button.get("disabled"):
            raise AssertionError(f"button {label!r} is disabled")
        data = {"custom_id": button["custom_id"], "component_type": 2}
        return await self._interact(
            MESSAGE_COMPONENT,
            data,
            user=user,
            channel_id=message.channel_id,
            message=message,
        )

    async def submit_modal(
        self,
        opened_by: Interaction,
        values: Mapping[str, str | Sequence[str]],
        *,
        user: User | None = None,
    ) -> Interaction:
        """The person fills in the modal the bot opened (fields by custom_id) and submits it."""
        modal = opened_by.modal
        assert modal is not None, "the bot did not answer with a modal"

        def filled(component: dict[str, Any]) -> dict[str, Any]:
            kind = component["type"]
            if kind == 1:
                return {"type": 1, "components": [filled(c) for c in component["components"]]}
            if kind == 18:
                return {"type": 18, "component": filled(component["component"])}
            custom_id = component["custom_id"]
            value = values.get(custom_id)
            if kind == 4:
                if component.get("required", True) and not value:
                    raise AssertionError(f"the modal requires {custom_id!r}")
                return {"type": 4, "custom_id": custom_id, "value": value or ""}
            chosen = [value] if isinstance(value, str) else list(value or [])
            return {"type": kind, "custom_id": custom_id, "values": chosen}

        data = {
            "custom_id": modal["custom_id"],
            "components": [filled(c) for c in modal["components"]],
        }
        message_id = opened_by.payload.get("message", {}).get("id")
        message = self.messages.get(int(message_id)) if message_id else None
        return await self._interact(
            MODAL_SUBMIT,
            data,
            user=user or opened_by.user,
            channel_id=opened_by.channel_id,
            message=message,
        )

    def registered(self, name: str, kind: int) -> dict[str, Any]:
        for scope in (self.guild_id, None):
            for command in self.commands.get(scope, []):
                if command["name"] == name and command.get("type", 1) == kind:
                    return command
        raise AssertionError(f"the bot registered no command {name!r} of type {kind}")

    @staticmethod
    def _option(command: dict[str, Any], name: str) -> dict[str, Any]:
        for option in command.get("options", []):
            if option["name"] == name:
                return dict(option)
        raise AssertionError(f"/{command['name']} has no option {name!r}")

    def _options(
        self, command: dict[str, Any], values: Mapping[str, object], *, partial: bool = False
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        given: list[dict[str, Any]] = []
        resolved: dict[str, Any] = {}
        for name, value in values.items():
            option = self._option(command, name)
            if option["type"] == ATTACHMENT_OPTION:
                assert isinstance(value, Attachment), f"{name} takes an upload()"
                resolved.setdefault("attachments", {})[str(value.id)] = value.payload()
                value = str(value.id)
            elif option["type"] == USER_OPTION:
                assert isinstance(value, User), f"{name} takes a User"
                resolved.setdefault("users", {})[str(value.id)] = value.payload()
                member = value.member(self._connected_at)
                del member["user"]  # resolved members come without it
                resolved.setdefault("members", {})[str(value.id)] = member
                value = str(value.id)
            given.append({"name": name, "type": option["type"], "value": value})
        missing = [
            o["name"]
            for o in command.get("options", [])
            if o.get("required") and o["name"] not in values
        ]
        if missing and not partial:
            raise AssertionError(f"Discord would not send /{command['name']} without {missing}")
        return given, resolved

    async def _interact(
        self,
        kind: int,
        data: dict[str, Any],
        *,
        user: User | None,
        channel_id: int | None = None,
        message: Message | None = None,
    ) -> Interaction:
        user = user or self.owner
        channel_id = channel_id or self.channel_id
        interaction = Interaction(
            id=self.snowflake(),
            token=f"aW50ZXJhY3Rpb24{secrets.token_urlsafe(40)}",
            type=kind,
            payload={},
            created_at=self.now(),
            user=user,
            channel_id=channel_id,
        )
        payload: dict[str, Any] = {
            "id": str(interaction.id),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "guild_id": str(self.guild_id),
            "guild": {"id": str(self.guild_id), "locale": "en-US", "features": []},
            "channel_id": str(channel_id),
            "channel": self.channels[channel_id],
            "member": user.member(self._connected_at),
            "token": interaction.token,
            "version": 1,
            "app_permissions": str(self.bot.permissions),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.guild_id)},
            "context": 0,
            "attachment_size_limit": self.attachment_size_limit,
        }
        if message is not None:
            payload["message"] = message.payload()
        interaction.payload = payload
        self.interactions[interaction.id] = interaction
        await self.dispatch("INTERACTION_CREATE", payload)
        return interaction

    # --- REST ---------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX):
            return await handler(request)
        body = await self._read_body(request)
        request[BODY] = body
        authorized = request.headers.get("Authorization") == f"Bot {self.token}"
        call = RestCall(
            request.method, request.path, dict(request.query), body.json, body.files, authorized
        )
        self.rest.append(call)
        try:
            response = await self._answer(request, handler, authorized)
        finally:
            self._notify()
        call.status = response.status
        return response

    async def _answer(
        self, request: web.Request, handler: Handler, authorized: bool
    ) -> web.StreamResponse:
        tokenless = request.path.startswith(
            (f"{API_PREFIX}/interactions/", f"{API_PREFIX}/webhooks/")
        )
        if not tokenless and not authorized:
            self.violations.append(f"{request.method} {request.path} without the bot token")
            return json_response({"message": "401: Unauthorized", "code": 0}, 401)
        for fault in self.faults:
            if fault.times > 0 and fault.matches(request):
                fault.times -= 1
                if fault.delay_s:
                    await asyncio.sleep(fault.delay_s)
                if fault.passthrough:
                    break
                if isinstance(fault.body, (dict, list)):
                    return json_response(fault.body, fault.status, fault.headers)
                return web.Response(
                    status=fault.status, text=str(fault.body or ""), headers=fault.headers
                )
        try:
            response = await handler(request)
        except DiscordError as refusal:
            # A 404 is often an honest question ("is it there?").
            if refusal.status != 404 and refusal.bots_fault:
                self.violations.append(f"{request.method} {request.path}: {refusal}")
            return refusal.response()
        for hold in self.holds:
            if (
                not hold.used
                and hold.method == request.method
                and fnmatch.fnmatchcase(request.path, hold.path)
            ):
                hold.used = True
                hold.reached.set()
                self._notify()
                await hold._released.wait()
        return response

    @staticmethod
    async def _read_body(request: web.Request) -> _Body:
        if request.content_type == "multipart/form-data":
            body = _Body()
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    raise invalid_form("nested multipart bodies are not accepted")
                data = await part.read()
                name = part.name or ""
                if name == "payload_json":
                    body.json = json.loads(data)
                elif name.startswith("files["):
                    content_type = part.headers.get("Content-Type", "application/octet-stream")
                    body.files.append((part.filename or "", content_type, bytes(data)))
            return body
        raw = await request.read()
        return _Body(json=json.loads(raw) if raw else None)

    async def _open_dm(self, request: web.Request) -> web.Response:
        """Create DM: the same channel for the same user every time."""
        recipient = str((request[BODY].json or {}).get("recipient_id", ""))
        user = self.users.get(int(recipient)) if recipient.isdigit() else None
        if user is None or user.bot:
            raise DiscordError(400, 50033, "Invalid Recipient(s)")
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
        return json_response(self.channels[channel_id])

    async def _me(self, request: web.Request) -> web.Response:
        return json_response({**self.bot.payload(), "verified": True, "flags": 0})

    async def _application(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "id": str(self.application_id),
                "name": "Veo",
                "icon": None,
                "description": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": self.owner.payload(),
                "verify_key": secrets.token_hex(32),
                "flags": 0,
                "team": None,
            }
        )

    async def _gateway_info(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "url": self.gateway_url.removesuffix("/gateway"),
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        )

    async def _put_commands(self, request: web.Request) -> web.Response:
        if int(request.match_info["app"]) != self.application_id:
            raise DiscordError(403, 50001, "Missing Access")
        guild = int(request.match_info["guild"]) if "guild" in request.match_info else None
        if guild is not None and guild != self.guild_id:
            raise DiscordError(403, 50001, "Missing Access")
        commands = request[BODY].json
        if not isinstance(commands, list):
            raise invalid_form("expected a list of commands")
        stored = [self._check_command(c, guild) for c in commands]
        self.commands[guild] = stored
        return json_response(stored)

    async def _get_commands(self, request: web.Request) -> web.Response:
        guild = int(request.match_info["guild"]) if "guild" in request.match_info else None
        return json_response(self.commands.get(guild, []))

    def _check_command(self, command: dict[str, Any], guild: int | None) -> dict[str, Any]:
        kind = command.get("type", CHAT_INPUT)
        name = command.get("name", "")
        if kind == CHAT_INPUT:
            if not _COMMAND_NAME.match(name) or name != name.lower():
                raise invalid_form(f"command name {name!r} is not a valid slash command name")
            if not 1 <= len(command.get("description", "")) <= 100:
                raise invalid_form(f"/{name} needs a description of 1 to 100 characters")
        elif not 1 <= len(name) <= 32:
            raise invalid_form(f"context menu name {name!r} must be 1 to 32 characters")
        options = command.get("options", [])
        if len(options) > 25:
            raise invalid_form(f"/{name} has more than 25 options")
        seen_optional = False
        for option in options:
            if not _COMMAND_NAME.match(option["name"]) or option["name"] != option["name"].lower():
                raise invalid_form(f"option name {option['name']!r} is not valid")
            if not 1 <= len(option.get("description", "")) <= 100:
                raise invalid_form(f"option {option['name']!r} needs a description")
            if option.get("required"):
                if seen_optional:
                    raise invalid_form("required options must come before optional ones")
            else:
                seen_optional = True
            if option.get("autocomplete") and option.get("choices"):
                raise invalid_form(f"option {option['name']!r} has both choices and autocomplete")
            if len(option.get("choices") or []) > 25:
                raise invalid_form(f"option {option['name']!r} has more than 25 choices")
        key = (guild, name, kind)
        command_id = self._command_ids.setdefault(key, self.snowflake())
        stored = {
            "description": "",  # context menus have none; Discord sends it empty
            **command,
            "id": str(command_id),
            "application_id": str(self.application_id),
            "version": str(self.snowflake()),
            "type": kind,
            "default_member_permissions": command.get("default_member_permissions"),
        }
        if guild is not None:
            stored["guild_id"] = str(guild)
        return stored

    def _check_message(self, body: dict[str, Any], files: Sequence[object] = ()) -> None:
        """Discord's limits on a message a bot sends (400, code 50035 / 50006 beyond them)."""
        content = body.get("content") or ""
        embeds = body.get("embeds") or []
        components = body.get("components") or []
        if len(content) > 2000:
            raise invalid_form("content is longer than 2000 characters")
        if len(embeds) > 10:
            raise invalid_form("more than 10 embeds")
        total = 0
        for embed in embeds:
            limits = {"title": 256, "description": 4096}
            for key, limit in limits.items():
                if len(embed.get(key) or "") > limit:
                    raise invalid_form(f"embed {key} is longer than {limit} characters")
            fields = embed.get("fields") or []
            if len(fields) > 25:
                raise invalid_form("an embed has more than 25 fields")
            for item in fields:
                if not 1 <= len(item.get("name") or "") <= 256:
                    raise invalid_form("an embed field name must be 1 to 256 characters")
                if not 1 <= len(item.get("value") or "") <= 1024:
                    raise invalid_form("an embed field value must be 1 to 1024 characters")
            footer = (embed.get("footer") or {}).get("text") or ""
            if len(footer) > 2048:
                raise invalid_form("embed footer is longer than 2048 characters")
            total += len(embed.get("title") or "") + len(embed.get("description") or "")
            total += sum(len(f["name"]) + len(f["value"]) for f in fields) + len(footer)
        if total > 6000:
            raise invalid_form("embeds hold more than 6000 characters together")
        self._check_components(components, modal=False)
        if ("content" in body or "embeds" in body or files or components) and not (
            content or embeds or files or components or body.get("attachments")
        ):
            raise DiscordError(400, 50006, "Cannot send an empty message")

    def _check_components(self, rows: Sequence[dict[str, Any]], *, modal: bool) -> None:
        if len(rows) > 5:
            raise invalid_form("more than 5 component rows")
        custom_ids = []
        for row in rows:
            if modal and row.get("type") == 18:
                if not 1 <= len(row.get("label") or "") <= 45:
                    raise invalid_form("a modal label must be 1 to 45 characters")
                items = [row["component"]]
            elif row.get("type") == 1:
                items = row.get("components") or []
                if not 1 <= len(items) <= 5:
                    raise invalid_form("an action row holds 1 to 5 components")
            else:
                raise invalid_form(f"component type {row.get('type')} cannot be top-level here")
            for item in items:
                if item["type"] == 2 and len(item.get("label") or "") > 80:
                    raise invalid_form("a button label is longer than 80 characters")
                if item["type"] == 2 and item.get("style") == 5:
                    if "url" not in item or "custom_id" in item:
                        raise invalid_form("a link button has a url and no custom_id")
                    continue
                if item["type"] == 4 and not modal:
                    raise invalid_form("text inputs belong in modals")
                custom_id = item.get("custom_id") or ""
                if not 1 <= len(custom_id) <= 100:
                    raise invalid_form("a custom_id must be 1 to 100 characters")
                custom_ids.append(custom_id)
                if item["type"] == 3 and not 1 <= len(item.get("options") or []) <= 25:
                    raise invalid_form("a select menu offers 1 to 25 options")
        if len(custom_ids) != len(set(custom_ids)):
            raise invalid_form("custom_ids must be unique within a message")

    def _attachments(
        self, channel_id: int, files: Sequence[tuple[str, str, bytes]]
    ) -> list[Attachment]:
        stored = []
        for filename, content_type, data in files:
            if len(data) > self.attachment_size_limit:
                raise DiscordError(413, 40005, "Request entity too large")
            if content_type == "application/octet-stream":
                # Discord names the type from the file name (discord.py sends octet-stream).
                content_type = mimetypes.guess_type(filename)[0] or content_type
            attachment = self.upload(data, filename, content_type)
            stored.append(attachment)
        return stored

    def _store(self, message: Message) -> None:
        self.messages[message.id] = message
        channel = self.channels.get(message.channel_id)
        if channel is not None and not message.ephemeral:
            channel["last_message_id"] = str(message.id)
            if channel["type"] == PUBLIC_THREAD:
                channel["message_count"] += 1
                channel["total_message_sent"] += 1

    def _channel(self, request: web.Request) -> dict[str, Any]:
        channel = self.channels.get(int(request.match_info["channel"]))
        if channel is None:
            raise DiscordError(404, 10003, "Unknown Channel")
        parent = channel.get("parent_id")
        if int(channel["id"]) in self.no_access or (parent and int(parent) in self.no_access):
            raise DiscordError(403, 50001, "Missing Access", bots_fault=False)
        return channel

    def _find_message(self, channel_id: int, message_id: str) -> Message:
        message = self.messages.get(int(message_id)) if message_id.isdigit() else None
        if message is None or message.deleted or message.channel_id != channel_id:
            raise DiscordError(404, 10008, "Unknown Message")
        return message

    async def _get_channel(self, request: web.Request) -> web.Response:
        return json_response(self._channel(request))

    async def _create_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        body: _Body = request[BODY]
        payload = body.json or {}
        self._check_message(payload, body.files)
        if channel["type"] == PUBLIC_THREAD and channel["thread_metadata"]["locked"]:
            raise DiscordError(403, 50083, "Thread is archived", bots_fault=False)
        if channel["type"] == DM:
            recipient = self.users[int(channel["recipients"][0]["id"])]
            if not recipient.dms_open:
                raise DiscordError(
                    403, 50007, "Cannot send messages to this user", bots_fault=False
                )
        message = Message(
            id=self.snowflake(),
            channel_id=int(channel["id"]),
            guild_id=0 if channel["type"] == DM else self.guild_id,
            author=self.bot,
            content=payload.get("content") or "",
            embeds=payload.get("embeds") or [],
            components=payload.get("components") or [],
            attachments=self._attachments(int(channel["id"]), body.files),
            flags=payload.get("flags") or 0,
            created_at=self.now(),
        )
        self._store(message)
        return json_response(message.payload())

    async def _history(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        limit = min(100, int(request.query.get("limit", "50")))
        everything = self.messages_in(int(channel["id"]))
        if "before" in request.query:
            chosen = [m for m in everything if m.id < int(request.query["before"])][-limit:]
        elif "after" in request.query:
            chosen = [m for m in everything if m.id > int(request.query["after"])][:limit]
        else:
            chosen = everything[-limit:]
        return json_response([m.payload() for m in reversed(chosen)])  # newest first

    async def _message(self, request: web.Request) -> web.StreamResponse:
        channel_id = int(self._channel(request)["id"])
        message = self._find_message(channel_id, request.match_info["id"])
        if request.method == "GET":
            return json_response(message.payload())
        if request.method == "DELETE":
            message.deleted = True
            return web.Response(status=204)
        if request.method != "PATCH":
            raise DiscordError(405, 0, "405: Method Not Allowed")
        if message.author.id != self.bot.id:
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        body: _Body = request[BODY]
        self._edit(message, body.json or {}, body.files)
        return json_response(message.payload())

    def _edit(
        self, message: Message, payload: dict[str, Any], files: Sequence[tuple[str, str, bytes]]
    ) -> None:
        self._check_message(payload, files)
        for key in ("content", "embeds", "components"):
            if key in payload:
                setattr(message, key, payload[key] or ([] if key != "content" else ""))
        if "attachments" in payload:
            keep = {str(a.get("id")) for a in payload["attachments"]}
            message.attachments = [a for a in message.attachments if str(a.id) in keep]
        message.attachments += self._attachments(message.channel_id, files)
        message.flags &= ~LOADING
        message.edited_at = self.now()
        message.edits += 1

    async def _thread(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        message = self._find_message(int(channel["id"]), request.match_info["id"])
        if channel["type"] != GUILD_TEXT:
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        if message.thread is not None:
            raise DiscordError(400, 160004, "A thread has already been created for this message")
        name = (request[BODY].json or {}).get("name") or ""
        if not 1 <= len(name) <= 100:
            raise invalid_form("a thread name must be 1 to 100 characters")
        thread = self._thread_payload(message.id, int(channel["id"]), name, owner=self.bot)
        self.channels[message.id] = thread
        message.thread = thread
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return json_response(thread, 201)

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
                "archive_timestamp": _iso(now),
                "locked": False,
                "create_timestamp": _iso(now),
            },
        }

    # --- interactions and their webhook -------------------------------------------------

    async def _callback(self, request: web.Request) -> web.Response:
        interaction = self.interactions.get(int(request.match_info["id"]))
        if interaction is None or interaction.token != request.match_info["token"]:
            raise DiscordError(404, 10062, "Unknown interaction")
        if request.query.get("with_response") not in ("1", "true", "True"):
            self.violations.append("interaction callback without with_response")
        if interaction.callbacks:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        age = self.now() - interaction.created_at
        if age > self.ack_deadline_s:
            self.violations.append(f"interaction {interaction.id} acknowledged after {age:.2f} s")
            return DiscordError(404, 10062, "Unknown interaction").response()
        body: _Body = request[BODY]
        callback = body.json or {}
        kind = callback.get("type")
        data = callback.get("data") or {}
        if kind not in CALLBACKS_ALLOWED[interaction.type]:
            raise invalid_form(
                f"callback type {kind} does not answer interaction type {interaction.type}"
            )
        if kind in (4, 7):
            self._check_message(data, body.files)
        elif kind == 8:
            self._check_choices(data.get("choices"))
        elif kind == 9:
            self._check_modal(data)
        interaction.callbacks.append(callback)
        interaction.acked_after_s = age
        message: Message | None = None
        flags = data.get("flags") or 0
        if kind in (4, 5):
            message = Message(
                id=self.snowflake(),
                channel_id=interaction.channel_id,
                guild_id=self.guild_id,
                author=self.bot,
                content=data.get("content") or "",
                embeds=data.get("embeds") or [],
                components=data.get("components") or [],
                attachments=self._attachments(interaction.channel_id, body.files),
                flags=flags | (LOADING if kind == 5 else 0),
                created_at=self.now(),
                webhook_id=self.application_id,
                interaction_id=interaction.id,
            )
            self._store(message)
            interaction.original = message
        elif kind == 7:
            message = self.messages[int(interaction.payload["message"]["id"])]
            self._edit(message, data, body.files)
        resource: dict[str, Any] = {"type": kind}
        if message is not None:
            resource["message"] = message.payload()
        return json_response(
            {
                "interaction": {
                    "id": str(interaction.id),
                    "type": interaction.type,
                    "response_message_id": str(message.id) if message else None,
                    "response_message_loading": kind == 5,
                    "response_message_ephemeral": bool(flags & EPHEMERAL),
                },
                "resource": resource,
            }
        )

    def _check_choices(self, choices: Any) -> None:
        if not isinstance(choices, list) or len(choices) > 25:
            raise invalid_form("autocomplete answers with at most 25 choices")
        for choice in choices:
            if not 1 <= len(str(choice.get("name", ""))) <= 100:
                raise invalid_form("a choice name must be 1 to 100 characters")
            if isinstance(choice.get("value"), str) and len(choice["value"]) > 100:
                raise invalid_form("a choice value must be at most 100 characters")

    def _check_modal(self, data: dict[str, Any]) -> None:
        if not 1 <= len(data.get("title") or "") <= 45:
            raise invalid_form("a modal title must be 1 to 45 characters")
        if not 1 <= len(data.get("custom_id") or "") <= 100:
            raise invalid_form("a modal custom_id must be 1 to 100 characters")
        if not data.get("components"):
            raise invalid_form("a modal needs components")
        self._check_components(data["components"], modal=True)

    def _webhook_interaction(self, request: web.Request) -> Interaction:
        token = request.match_info["token"]
        interaction = next((i for i in self.interactions.values() if i.token == token), None)
        if int(request.match_info["app"]) != self.application_id or interaction is None:
            raise DiscordError(404, 10015, "Unknown Webhook")
        if not interaction.callbacks:
            raise DiscordError(404, 10015, "Unknown Webhook")  # nothing to follow up yet
        if self.now() - interaction.created_at > self.token_ttl_s:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        return interaction

    async def _followup(self, request: web.Request) -> web.StreamResponse:
        interaction = self._webhook_interaction(request)
        body: _Body = request[BODY]
        payload = body.json or {}
        self._check_message(payload, body.files)
        message = Message(
            id=self.snowflake(),
            channel_id=interaction.channel_id,
            guild_id=self.guild_id,
            author=self.bot,
            content=payload.get("content") or "",
            embeds=payload.get("embeds") or [],
            components=payload.get("components") or [],
            attachments=self._attachments(interaction.channel_id, body.files),
            flags=payload.get("flags") or 0,
            created_at=self.now(),
            webhook_id=self.application_id,
            interaction_id=interaction.id,
        )
        self._store(message)
        interaction.followups.append(message)
        if request.query.get("wait") in ("1", "true", "True"):
            return json_response(message.payload())
        return web.Response(status=204)

    async def _webhook(self, request: web.Request) -> web.StreamResponse:
        interaction = self._webhook_interaction(request)
        wanted = request.match_info["id"]
        if wanted == "@original":
            message = interaction.original
        else:
            message = next((m for m in interaction.followups if str(m.id) == wanted), None)
        if message is None or message.deleted:
            raise DiscordError(404, 10008, "Unknown Message")
        if request.method == "GET":
            return json_response(message.payload())
        if request.method == "DELETE":
            message.deleted = True
            return web.Response(status=204)
        body: _Body = request[BODY]
        self._edit(message, body.json or {}, body.files)
        return json_response(message.payload())

    # --- the CDN ------------------------------------------------------------------------

    def _sign(self, path: str, expires: int) -> str:
        return hmac.new(self._cdn_key, f"{path}:{expires}".encode(), hashlib.sha256).hexdigest()

    async def _cdn(self, request: web.Request) -> web.Response:
        self.cdn_requests.append(request.path)
        attachment = self.attachments.get(int(request.match_info["id"]))
        try:
            expires = int(request.query.get("ex", ""), 16)
        except ValueError:
            expires = 0
        signed = hmac.compare_digest(self._sign(request.path, expires), request.query.get("hm", ""))
        if attachment is None or not signed or self.now() > expires:
            # What Discord's CDN says about an unsigned or expired link.
            return web.Response(status=404, text="This content is no longer available.")
        return web.Response(
            body=attachment.data,
            headers={"Content-Type": attachment.content_type or "application/octet-stream"},
        )
