"""Slack's objects as the fake keeps them (messages, files, Web API calls, the bot's answers),
the refusal in Slack's shape, and the fake's credentials and ids."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

BOT_TOKEN = "xoxb-fake-bot-token"
APP_TOKEN = "xapp-fake-app-token"
SIGNING_SECRET = "fake-signing-secret"
TEAM_ID = "T0FAKE"
APP_ID = "A0VEO"
BOT_USER_ID = "U0VEOBOT"
BOT_ID = "B0VEOBOT"

TRIGGER_TTL_S = 3.0
RESPONSE_URL_USES = 5
LOGIN_PAGE = b"<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in</body></html>"


LINK = re.compile(r"https?://[^\s|<>\"]+")


class Refusal(Exception):
    """A Web API call Slack would refuse: `{"ok": false, "error": code}` with HTTP 200."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class ApiCall:
    method: str
    params: dict[str, Any]
    token: str | None


@dataclass
class SlackFile:
    id: str
    name: str
    title: str
    mimetype: str
    data: bytes
    user: str
    # False: even the bot token gets the login page (a file from elsewhere, since deleted...).
    readable: bool = True
    deleted: bool = False
    # A remote file (files.remote.add): Slack keeps only this address, chosen by the app.
    external_url: str | None = None
    # Downloads of the file answer 302 to this address (Slack sends some to another host).
    moved_to: str | None = None

    def as_json(self, base_url: str) -> dict[str, Any]:
        if self.deleted:
            return {"id": self.id, "mode": "tombstone"}
        filetype = self.name.rsplit(".", 1)[-1].lower() if "." in self.name else "binary"
        if self.external_url is not None:
            # As files.remote.info describes one: url_private is the app's external_url.
            return {
                "id": self.id,
                "name": self.name,
                "title": self.title,
                "mimetype": self.mimetype,
                "filetype": filetype,
                "size": 0,
                "user": self.user,
                "mode": "external",
                "is_external": True,
                "external_type": "app",
                "external_url": self.external_url,
                "url_private": self.external_url,
            }
        url = f"{base_url}/files-pri/{TEAM_ID}-{self.id}/{self.name}"
        return {
            "id": self.id,
            "name": self.name,
            "title": self.title,
            "mimetype": self.mimetype,
            "filetype": filetype,
            "size": len(self.data),
            "user": self.user,
            "mode": "hosted",
            "is_external": False,
            "url_private": url,
            "url_private_download": f"{base_url}/files-pri/{TEAM_ID}-{self.id}/download/"
            f"{self.name}",
        }


@dataclass
class Message:
    channel: str
    ts: str
    user: str
    text: str
    thread_ts: str | None = None
    blocks: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    files: list[SlackFile] = field(default_factory=list)
    bot_id: str | None = None
    updates: list[dict[str, Any]] = field(default_factory=list)  # each chat.update, in order
    deleted: bool = False
    # chat.postMessage's unfurl_links / unfurl_media as sent (None: not sent).
    unfurl_links: bool | None = None
    unfurl_media: bool | None = None

    @property
    def crawled_links(self) -> list[str]:
        """The links Slack fetches to unfurl a message an app posted: all of them (it must
        fetch one to tell media from text), unless both unfurl_links and unfurl_media are
        false. ("Classic" unfurling; a link labelled with its own text is not modelled.)"""
        if self.unfurl_links is False and self.unfurl_media is False:
            return []
        return LINK.findall(self.all_text)

    @property
    def root(self) -> str:
        return self.thread_ts or self.ts

    @property
    def all_text(self) -> str:
        """The text and every text in the blocks, for assertions on what people read."""
        return self.text + "\n" + json.dumps(self.blocks, ensure_ascii=False)

    def as_json(self, base_url: str, *, with_metadata: bool) -> dict[str, Any]:
        data: dict[str, Any] = {"type": "message", "ts": self.ts, "user": self.user}
        data["text"] = self.text
        if self.blocks:
            data["blocks"] = self.blocks
        if self.thread_ts:
            data["thread_ts"] = self.thread_ts
        if self.bot_id:
            data["bot_id"], data["app_id"] = self.bot_id, APP_ID
        if self.files:
            data["files"] = [f.as_json(base_url) for f in self.files]
            data["upload"] = True
        if self.metadata is not None and with_metadata:
            data["metadata"] = self.metadata
        return data

    def button(self, action_id: str) -> dict[str, Any]:
        for block in self.blocks:
            for element in block.get("elements", []):
                if element.get("action_id") == action_id:
                    return {"block_id": block.get("block_id", ""), **element}
        raise AssertionError(f"no button {action_id} on message {self.ts}")


@dataclass
class BotReply:
    """What the bot answered to a request Slack sent it."""

    status: int
    body: str

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Hold:
    """A call whose work is done but whose answer waits for `release()`."""

    method: str
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.released.set()


@dataclass
class Upload:
    filename: str
    length: int
    data: bytes | None = None


def json_arg(value: Any) -> Any:
    """Slack takes structured arguments as JSON bodies or as JSON strings in a form."""
    return json.loads(value) if isinstance(value, str) else value


def flag(value: Any) -> bool:
    return value in (True, "true", "1", 1)


def optional_flag(params: Mapping[str, Any], name: str) -> bool | None:
    return flag(params[name]) if name in params else None
