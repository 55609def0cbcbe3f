"""Discord's objects as the fake keeps them (users, messages, attachments, interactions), the
records of what the bot did (REST calls, gateway frames), and the constants of the wire format
(API version, permission bits, message flags, channel, interaction and callback types)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

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
SUB_COMMAND, SUB_COMMAND_GROUP, USER_OPTION, CHANNEL_OPTION, ATTACHMENT_OPTION = 1, 2, 6, 7, 11
COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")
# The locales Discord takes in name_localizations and description_localizations.
DISCORD_LOCALES = frozenset(
    {
        "id",
        "da",
        "de",
        "en-GB",
        "en-US",
        "es-ES",
        "es-419",
        "fr",
        "hr",
        "it",
        "lt",
        "hu",
        "nl",
        "no",
        "pl",
        "pt-BR",
        "ro",
        "fi",
        "sv-SE",
        "vi",
        "tr",
        "cs",
        "el",
        "bg",
        "ru",
        "uk",
        "hi",
        "th",
        "zh-CN",
        "ja",
        "zh-TW",
        "ko",
    }
)


def iso(moment: float) -> str:
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
    locale: str = "en-US"  # the language of their Discord client, sent with each interaction

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
            "joined_at": iso(joined_at),
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
            "timestamp": iso(self.created_at),
            "edited_timestamp": None if self.edited_at is None else iso(self.edited_at),
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
class GatewaySession:
    id: str
    shard: int = 0
    seq: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)
    socket: web.WebSocketResponse | None = None


@dataclass
class RequestBody:
    json: Any = None
    files: list[tuple[str, str, bytes]] = field(default_factory=list)


BODY = web.RequestKey("body", RequestBody)
