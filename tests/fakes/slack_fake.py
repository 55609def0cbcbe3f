"""A fake Slack: one aiohttp server on 127.0.0.1 with the Web API methods veo-bot calls (checked
the way Slack checks them: bearer token, required arguments, Slack's error codes with HTTP 200),
upload v2's upload URL, `url_private` files behind the bot token (the HTML login page without
it; a 302 to another address when a file is `moved_to` one), remote files (`is_external`,
their `url_private` on whatever host their app chose), response_url, and a Socket Mode
websocket. `ForeignHost` is a server outside Slack that such URLs can point to: it records
every request it gets, with its headers.

It also plays Slack's part towards the bot: it signs and sends slash commands, interactions and
events to the bot's `/slack/events`, or pushes them as Socket Mode envelopes and collects the
acks. What the bot posted is kept per channel and thread (messages, every update, files with
their bytes, the unfurl flags and the links Slack would crawl to unfurl them); every Web API
call is recorded (method + params).

The world changes under the bot: `remove_bot(channel)` (posting, editing or reading there
answers `not_in_channel`), `archive(channel)` (posting and editing: `is_archived`). The bot can
still reach a person through `conversations.open` (a DM channel, `D…`), where upload v2 and
`chat.postMessage` work as in any channel.

Faults: `inject(Fault(...))` (tests.fakes._base) or `ratelimit(method)`, `fail(method, status)`,
`fail_upload()`; `hold(method)` does the work of one call but answers only when released, like
a bot that crashed before hearing back.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

import aiohttp
from aiohttp import web

from tests.fakes._base import Fault, Recorded, bearer

T = TypeVar("T")
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
        return _LINK.findall(self.all_text)

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
class _Upload:
    filename: str
    length: int
    data: bytes | None = None


def text_value(value: str | None) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


def number_value(value: str | None) -> dict[str, Any]:
    return {"type": "number_input", "value": value}


def select_value(value: str | None) -> dict[str, Any]:
    option = {"text": {"type": "plain_text", "text": value}, "value": value} if value else None
    return {"type": "static_select", "selected_option": option}


def checkbox_value(*values: str) -> dict[str, Any]:
    options = [{"text": {"type": "plain_text", "text": v}, "value": v} for v in values]
    return {"type": "checkboxes", "selected_options": options}


def files_value(*files: dict[str, Any]) -> dict[str, Any]:
    """A file_input answer: the files as Slack describes them (`FakeSlack.file_json`)."""
    return {"type": "file_input", "files": list(files)}


def _json_arg(value: Any) -> Any:
    """Slack takes structured arguments as JSON bodies or as JSON strings in a form."""
    return json.loads(value) if isinstance(value, str) else value


def _flag(value: Any) -> bool:
    return value in (True, "true", "1", 1)


def _optional_flag(params: Mapping[str, Any], name: str) -> bool | None:
    return _flag(params[name]) if name in params else None


_LINK = re.compile(r"https?://[^\s|<>\"]+")


class FakeSlack:
    def __init__(
        self,
        *,
        bot_token: str = BOT_TOKEN,
        app_token: str = APP_TOKEN,
        signing_secret: str = SIGNING_SECRET,
        team_id: str = TEAM_ID,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.calls: list[ApiCall] = []
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.messages: list[Message] = []
        self.files: dict[str, SlackFile] = {}
        self.dms: dict[str, str] = {}  # user id -> their DM channel with the bot
        self.left: set[str] = set()  # channels the bot was removed from
        self.archived: set[str] = set()
        self.ephemerals: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []  # what was posted to response_urls
        self.views: list[dict[str, Any]] = []  # every view opened, as views.open returned it
        self.socket_acks: dict[str, dict[str, Any]] = {}
        self._uploads: dict[str, _Upload] = {}
        self._triggers: dict[str, float] = {}
        self._used_triggers: set[str] = set()
        self._response_uses: dict[str, int] = {}
        self._tickets: set[str] = set()
        self._holds: list[Hold] = []
        self._sockets: list[web.WebSocketResponse] = []
        self._changed = asyncio.Event()
        self._ids = itertools.count(1)
        self._last_ts = 0.0
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "apps.connections.open": self._connections_open,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.delete": self._delete,
            "chat.postEphemeral": self._post_ephemeral,
            "views.open": self._views_open,
            "files.getUploadURLExternal": self._get_upload_url,
            "files.completeUploadExternal": self._complete_upload,
            "files.info": self._file_info,
            "files.delete": self._file_delete,
            "conversations.replies": self._replies,
            "conversations.history": self._history,
            "conversations.open": self._open,
        }
        self.app = web.Application(middlewares=[self._middleware], client_max_size=1024**3)
        self.app.add_routes(
            [
                web.route("*", "/api/{method}", self._api),
                web.post("/upload/{file_id}", self._upload),
                web.get("/files-pri/{team}-{file_id}/download/{name}", self._file),
                web.get("/files-pri/{team}-{file_id}/{name}", self._file),
                web.post("/response/{token}", self._on_response_url),
                web.get("/link/", self._socket),
            ]
        )
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.base_url = ""

    # --- life ---------------------------------------------------------------------------

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)  # bursts in benches
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self._session = aiohttp.ClientSession()
        return self.base_url

    async def close(self) -> None:
        for hold in self._holds:
            hold.release()
        for ws in list(self._sockets):
            await ws.close()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def api_url(self) -> str:
        """What SLACK_API_URL should be: the Web API base, with its trailing slash."""
        return f"{self.base_url}/api/"

    # --- faults -------------------------------------------------------------------------

    def inject(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def ratelimit(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        self.inject(
            Fault(
                f"/api/{method}",
                status=429,
                body={"ok": False, "error": "ratelimited"},
                headers={"Retry-After": str(retry_after)},
                times=times,
            )
        )

    def fail(self, method: str, *, status: int = 500, times: int = 1) -> None:
        self.inject(Fault(f"/api/{method}", status=status, body="upstream error", times=times))

    def fail_upload(self, *, status: int = 500, times: int = 1) -> None:
        self.inject(Fault("/upload/*", status=status, body="upload failed", times=times))

    def hold(self, method: str) -> Hold:
        """The next call of `method` is carried out, but answered only on `release()`."""
        hold = Hold(method)
        self._holds.append(hold)
        return hold

    def remove_bot(self, channel: str) -> None:
        """Someone removes the bot from a channel (`/kick @veo`)."""
        self.left.add(channel)

    def archive(self, channel: str) -> None:
        self.archived.add(channel)

    # --- what the bot did ---------------------------------------------------------------

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [call.params for call in self.calls if call.method == method]

    def message(self, channel: str, ts: str) -> Message:
        for message in self.messages:
            if message.channel == channel and message.ts == ts:
                return message
        raise KeyError(f"no message {ts} in {channel}")

    def channel(self, channel: str) -> list[Message]:
        """Top-level messages, oldest first."""
        return [
            m for m in self.messages if m.channel == channel and not m.deleted and m.root == m.ts
        ]

    def thread(self, channel: str, ts: str) -> list[Message]:
        """A thread's root and its replies, oldest first."""
        return [m for m in self.messages if m.channel == channel and not m.deleted and m.root == ts]

    def replies(self, channel: str, ts: str) -> list[Message]:
        return [m for m in self.thread(channel, ts) if m.ts != ts]

    def videos(self, channel: str, thread_ts: str | None = None) -> list[SlackFile]:
        """Files the bot shared (and has not deleted) in a thread, or in the channel."""
        where = self.thread(channel, thread_ts) if thread_ts is not None else self.channel(channel)
        return [f for m in where if m.user == BOT_USER_ID for f in m.files if not f.deleted]

    def bot_messages(self, channel: str) -> list[Message]:
        return [m for m in self.messages if m.channel == channel and m.user == BOT_USER_ID]

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

    # --- what people do -----------------------------------------------------------------

    def add_file(
        self,
        data: bytes,
        name: str,
        *,
        mimetype: str = "image/png",
        user: str = "U1",
        readable: bool = True,
        moved_to: str | None = None,
    ) -> SlackFile:
        file = SlackFile(
            self._id("F"), name, name, mimetype, data, user, readable=readable, moved_to=moved_to
        )
        self.files[file.id] = file
        return file

    def add_remote_file(
        self,
        external_url: str,
        name: str,
        *,
        mimetype: str = "application/vnd.slack-remote",
        user: str = "U1",
    ) -> SlackFile:
        """A remote file an app added with files.remote.add; its name (`x.png`) sets its
        filetype, as the app's `filetype` argument does."""
        file = SlackFile(self._id("F"), name, name, mimetype, b"", user, external_url=external_url)
        self.files[file.id] = file
        return file

    def download_url(self, file: SlackFile) -> str:
        """Where the file's bytes are served (its url_private_download)."""
        return f"{self.base_url}/files-pri/{TEAM_ID}-{file.id}/download/{file.name}"

    def add_message(
        self,
        channel: str,
        text: str,
        *,
        user: str = "U1",
        files: Iterable[SlackFile] = (),
        thread_ts: str | None = None,
    ) -> Message:
        message = Message(channel, self._ts(), user, text, thread_ts=thread_ts, files=list(files))
        self.messages.append(message)
        return message

    def file_json(self, file: SlackFile) -> dict[str, Any]:
        return file.as_json(self.base_url)

    # --- payloads Slack sends -----------------------------------------------------------

    def _trigger(self) -> str:
        trigger = f"{next(self._ids)}.{secrets.token_hex(6)}"
        self._triggers[trigger] = time.monotonic()
        return trigger

    def _response_url(self) -> str:
        token = secrets.token_hex(8)
        self._response_uses[token] = 0
        return f"{self.base_url}/response/{token}"

    def command_payload(
        self, text: str, *, user: str = "U1", channel: str = "C1", command: str = "/veo"
    ) -> dict[str, str]:
        return {
            "token": "deprecated-verification-token",
            "team_id": self.team_id,
            "team_domain": "fake",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": f"user-{user.lower()}",
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self._response_url(),
            "trigger_id": self._trigger(),
        }

    def _user(self, user: str) -> dict[str, str]:
        return {"id": user, "username": f"user-{user.lower()}", "team_id": self.team_id}

    def shortcut_payload(
        self, message: Message, *, user: str = "U1", callback_id: str = "veo_animate"
    ) -> dict[str, Any]:
        return {
            "type": "message_action",
            "token": "deprecated-verification-token",
            "action_ts": f"{time.time():.6f}",
            "team": {"id": self.team_id, "domain": "fake"},
            "user": self._user(user),
            "channel": {"id": message.channel, "name": "general"},
            "is_enterprise_install": False,
            "callback_id": callback_id,
            "trigger_id": self._trigger(),
            "response_url": self._response_url(),
            "message_ts": message.ts,
            "message": message.as_json(self.base_url, with_metadata=False),
        }

    def block_action_payload(
        self, message: Message, action_id: str, *, user: str = "U1"
    ) -> dict[str, Any]:
        button = message.button(action_id)
        return {
            "type": "block_actions",
            "token": "deprecated-verification-token",
            "team": {"id": self.team_id, "domain": "fake"},
            "user": self._user(user),
            "api_app_id": APP_ID,
            "container": {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": message.channel,
                "is_ephemeral": False,
                "thread_ts": message.thread_ts,
            },
            "trigger_id": self._trigger(),
            "channel": {"id": message.channel, "name": "general"},
            "message": message.as_json(self.base_url, with_metadata=False),
            "response_url": self._response_url(),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": button["block_id"],
                    "text": button.get("text"),
                    "value": button.get("value"),
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }

    def view_submission_payload(
        self, view: Mapping[str, Any], answers: Mapping[str, dict[str, Any]], *, user: str = "U1"
    ) -> dict[str, Any]:
        """The submission of an opened view, `answers` keyed by block id (see `text_value`
        and friends). Input blocks left out keep their initial value, or are sent empty, as
        Slack does; a required one left empty is a test mistake: Slack would not submit it."""
        values: dict[str, dict[str, Any]] = {}
        for block in view["blocks"]:
            if block["type"] != "input":
                continue
            block_id, element = block["block_id"], block["element"]
            answer = answers.get(block_id) or _untouched_answer(element)
            if _is_empty(answer):
                assert block.get("optional"), f"the required block {block_id} was left empty"
            assert answer["type"] == element["type"], (block_id, answer["type"])
            offered = {option["value"] for option in element.get("options", [])}
            chosen = [answer.get("selected_option"), *answer.get("selected_options", [])]
            for option in filter(None, chosen):
                assert option["value"] in offered, f"{block_id} offers no {option['value']}"
            values[block_id] = {element["action_id"]: answer}
        unknown = set(answers) - set(values)
        assert not unknown, f"no input blocks {unknown} in the view"
        return {
            "type": "view_submission",
            "token": "deprecated-verification-token",
            "team": {"id": self.team_id, "domain": "fake"},
            "user": self._user(user),
            "api_app_id": APP_ID,
            "trigger_id": self._trigger(),
            "view": {**view, "state": {"values": values}},
            "response_urls": [],
            "is_enterprise_install": False,
        }

    def mention_event(self, message: Message) -> dict[str, Any]:
        event: dict[str, Any] = {
            "type": "app_mention",
            "user": message.user,
            "text": message.text,
            "ts": message.ts,
            "channel": message.channel,
            "event_ts": message.ts,
            "team": self.team_id,
        }
        if message.thread_ts:
            event["thread_ts"] = message.thread_ts
        if message.files:
            event["files"] = [f.as_json(self.base_url) for f in message.files]
        return event

    def event_envelope(self, event: Mapping[str, Any], *, event_id: str) -> dict[str, Any]:
        return {
            "token": "deprecated-verification-token",
            "team_id": self.team_id,
            "api_app_id": APP_ID,
            "event": dict(event),
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "team_id": self.team_id,
                    "user_id": BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }

    # --- sending to the bot over HTTP ---------------------------------------------------

    def signature(self, body: str, timestamp: str, secret: str | None = None) -> str:
        key = (secret or self.signing_secret).encode()
        digest = hmac.new(key, f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
        return f"v0={digest}"

    async def post(
        self,
        url: str,
        body: str,
        content_type: str,
        *,
        timestamp: float | None = None,
        secret: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> BotReply:
        """Send a request the way Slack does: signed with the signing secret (or `secret`) at
        `timestamp` (default: now)."""
        assert self._session is not None, "start() the fake first"
        stamp = str(int(timestamp if timestamp is not None else time.time()))
        sent = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": self.signature(body, stamp, secret),
            **(headers or {}),
        }
        async with self._session.post(url, data=body.encode(), headers=sent) as response:
            return BotReply(response.status, await response.text())

    async def send_command(self, url: str, payload: Mapping[str, str], **signing: Any) -> BotReply:
        return await self.post(
            url, urlencode(payload), "application/x-www-form-urlencoded", **signing
        )

    async def send_interaction(
        self, url: str, payload: Mapping[str, Any], **signing: Any
    ) -> BotReply:
        body = urlencode({"payload": json.dumps(payload)})
        return await self.post(url, body, "application/x-www-form-urlencoded", **signing)

    async def send_event(
        self,
        url: str,
        event: Mapping[str, Any],
        *,
        event_id: str,
        retry_num: int | None = None,
        **signing: Any,
    ) -> BotReply:
        headers = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        body = json.dumps(self.event_envelope(event, event_id=event_id))
        return await self.post(url, body, "application/json", headers=headers, **signing)

    # --- sending to the bot over Socket Mode --------------------------------------------

    async def push(
        self, kind: str, payload: Mapping[str, Any], *, retry_attempt: int | None = None
    ) -> str:
        """Send an envelope (`slash_commands`, `interactive`, `events_api`) on the socket."""
        assert self._sockets, "the bot has not connected over Socket Mode"
        envelope_id = secrets.token_hex(8)
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": dict(payload),
            "accepts_response_payload": kind != "events_api",
        }
        if kind == "events_api":
            envelope["retry_attempt"] = retry_attempt or 0
            envelope["retry_reason"] = "timeout" if retry_attempt else ""
        await self._sockets[-1].send_json(envelope)
        return envelope_id

    async def socket_ack(self, envelope_id: str, *, timeout_s: float = 10.0) -> dict[str, Any]:
        return await self.wait_for(lambda: self.socket_acks.get(envelope_id), timeout_s=timeout_s)

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            raise web.HTTPUnauthorized(text="invalid ticket")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets),
                "debug_info": {"host": "fake-slack", "approximate_connection_time": 18060},
                "connection_info": {"app_id": APP_ID},
            }
        )
        async for frame in ws:
            if frame.type is aiohttp.WSMsgType.TEXT:
                data = json.loads(frame.data)
                if "envelope_id" in data:
                    self.socket_acks[data["envelope_id"]] = data
                    self._notify()
        self._sockets.remove(ws)
        return ws

    # --- the server ---------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            Recorded(request.method, request.path, dict(request.query), dict(request.headers), body)
        )
        for fault in self.faults:
            if fault.times > 0 and fault.matches(request):
                fault.times -= 1
                if isinstance(fault.body, dict):
                    return web.json_response(fault.body, status=fault.status, headers=fault.headers)
                return web.Response(
                    status=fault.status, text=str(fault.body or ""), headers=fault.headers
                )
        return await handler(request)

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        body = await request.read()
        if body:
            if request.content_type == "application/json":
                params.update(json.loads(body))
            else:
                params.update(parse_qsl(body.decode(), keep_blank_values=True))
        token = bearer(request)
        self.calls.append(ApiCall(method, params, token))
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        handler = self._methods.get(method)
        try:
            if handler is None:
                raise Refusal("unknown_method")
            if token is None:
                raise Refusal("not_authed")
            if token != expected:
                raise Refusal("invalid_auth")
            answer = {"ok": True, **handler(params)}
        except Refusal as refusal:
            answer = {"ok": False, "error": refusal.code}
        self._notify()
        hold = next((h for h in self._holds if h.method == method and not h.reached.is_set()), None)
        if hold is not None:
            hold.reached.set()
            await hold.released.wait()
        return web.json_response(answer)

    def _id(self, prefix: str) -> str:
        return f"{prefix}0{next(self._ids):06d}"

    def _ts(self) -> str:
        # Real time, strictly increasing: bots compare ts values with times (oldest=...).
        self._last_ts = max(time.time(), self._last_ts + 0.000001)
        return f"{self._last_ts:.6f}"

    def _require(self, params: Mapping[str, Any], *names: str) -> None:
        for name in names:
            if params.get(name) in (None, ""):
                raise Refusal("invalid_arguments")

    def _channel(self, params: Mapping[str, Any], name: str = "channel") -> str:
        channel = str(params.get(name) or "")
        if not channel:
            raise Refusal("channel_not_found")
        if channel in self.left:
            raise Refusal("not_in_channel")
        return channel

    def _postable(self, params: Mapping[str, Any], name: str = "channel") -> str:
        channel = self._channel(params, name)
        if channel in self.archived:
            raise Refusal("is_archived")
        return channel

    def _existing(self, channel: str, ts: str) -> Message:
        try:
            message = self.message(channel, ts)
        except KeyError:
            raise Refusal("message_not_found") from None
        if message.deleted:
            raise Refusal("message_not_found")
        return message

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://fake.slack.com/",
            "team": "Fake",
            "user": "veo-bot",
            "team_id": self.team_id,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        ticket = secrets.token_hex(8)
        self._tickets.add(ticket)
        host = self.base_url.removeprefix("http://")
        return {"url": f"ws://{host}/link/?ticket={ticket}&app_id={APP_ID}"}

    def _post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._postable(params)
        blocks = _json_arg(params.get("blocks")) or []
        if not params.get("text") and not blocks:
            raise Refusal("no_text")
        metadata = _json_arg(params.get("metadata"))
        if metadata is not None and not (
            metadata.get("event_type") and isinstance(metadata.get("event_payload"), dict)
        ):
            raise Refusal("invalid_metadata_format")
        thread_ts = params.get("thread_ts") or None
        if thread_ts is not None:
            thread_ts = self._existing(channel, str(thread_ts)).root
        message = Message(
            channel,
            self._ts(),
            BOT_USER_ID,
            str(params.get("text") or ""),
            thread_ts=thread_ts,
            blocks=blocks,
            metadata=metadata,
            bot_id=BOT_ID,
            unfurl_links=_optional_flag(params, "unfurl_links"),
            unfurl_media=_optional_flag(params, "unfurl_media"),
        )
        self.messages.append(message)
        return {
            "channel": channel,
            "ts": message.ts,
            "message": message.as_json(self.base_url, with_metadata=True),
        }

    def _update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._postable(params)
        self._require(params, "ts")
        message = self._existing(channel, str(params["ts"]))
        if message.user != BOT_USER_ID:
            raise Refusal("cant_update_message")
        blocks = _json_arg(params.get("blocks"))
        if not params.get("text") and not blocks:
            raise Refusal("no_text")
        message.updates.append({k: v for k, v in params.items() if k != "channel"})
        message.text = str(params.get("text") or "")
        if blocks is not None:
            message.blocks = blocks
        return {"channel": channel, "ts": message.ts, "text": message.text}

    def _delete(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        self._require(params, "ts")
        message = self._existing(channel, str(params["ts"]))
        if message.user != BOT_USER_ID:
            raise Refusal("cant_delete_message")
        message.deleted = True
        return {"channel": channel, "ts": message.ts}

    def _post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        self._channel(params)
        self._require(params, "user")
        if not params.get("text") and not params.get("blocks"):
            raise Refusal("no_text")
        self.ephemerals.append(params)
        return {"message_ts": self._ts()}

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        trigger = str(params.get("trigger_id") or "")
        if trigger not in self._triggers:
            raise Refusal("invalid_trigger_id")
        if trigger in self._used_triggers:
            raise Refusal("exchanged_trigger_id")
        if time.monotonic() - self._triggers[trigger] > TRIGGER_TTL_S:
            raise Refusal("expired_trigger_id")
        self._used_triggers.add(trigger)
        view = _json_arg(params.get("view"))
        _check_view(view)
        opened = {
            **view,
            "id": self._id("V"),
            "team_id": self.team_id,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
            "state": {"values": {}},
            "hash": secrets.token_hex(8),
        }
        self.views.append(opened)
        return {"view": opened}

    def _get_upload_url(self, params: dict[str, Any]) -> dict[str, Any]:
        self._require(params, "filename", "length")
        try:
            length = int(params["length"])
        except ValueError:
            raise Refusal("invalid_arguments") from None
        if length <= 0:
            raise Refusal("invalid_arguments")
        file_id = self._id("F")
        self._uploads[file_id] = _Upload(str(params["filename"]), length)
        return {"upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _complete_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        self._require(params, "files")
        entries = _json_arg(params["files"])
        channel = self._postable(params, "channel_id") if params.get("channel_id") else None
        done: list[SlackFile] = []
        for entry in entries:
            upload = self._uploads.get(str(entry.get("id")))
            if upload is None or upload.data is None:
                raise Refusal("file_not_found")
            mimetype = "video/mp4" if upload.filename.endswith(".mp4") else "binary"
            title = str(entry.get("title") or upload.filename)
            file = SlackFile(
                entry["id"], upload.filename, title, mimetype, upload.data, BOT_USER_ID
            )
            done.append(file)
        for file in done:
            del self._uploads[file.id]
            self.files[file.id] = file
        if channel is not None:
            thread_ts = params.get("thread_ts") or None
            if thread_ts is not None:
                thread_ts = self._existing(channel, str(thread_ts)).root
            comment = str(params.get("initial_comment") or "")
            self.messages.append(
                Message(channel, self._ts(), BOT_USER_ID, comment, thread_ts=thread_ts, files=done)
            )
        return {"files": [{"id": f.id, "title": f.title} for f in done]}

    def _open(self, params: dict[str, Any]) -> dict[str, Any]:
        """conversations.open with one user: their DM with the bot, the same every time."""
        self._require(params, "users")
        users = str(params["users"]).split(",")
        if len(users) != 1 or users[0] == BOT_USER_ID:
            raise Refusal("cannot_dm_bot" if BOT_USER_ID in users else "not_enough_users")
        channel = self.dms.setdefault(users[0], self._id("D"))
        return {"channel": {"id": channel}}

    def _file_info(self, params: dict[str, Any]) -> dict[str, Any]:
        file = self.files.get(str(params.get("file")))
        if file is None or file.deleted:
            raise Refusal("file_not_found")
        return {"file": file.as_json(self.base_url)}

    def _file_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        file = self.files.get(str(params.get("file")))
        if file is None or file.deleted:
            raise Refusal("file_not_found")
        if file.user != BOT_USER_ID:
            raise Refusal("cant_delete_file")
        file.deleted = True
        return {}

    def _page(self, messages: list[Message], params: Mapping[str, Any]) -> dict[str, Any]:
        start = int(params.get("cursor") or 0)
        limit = int(params.get("limit") or 100)
        page = messages[start : start + limit]
        more = start + limit < len(messages)
        with_metadata = _flag(params.get("include_all_metadata"))
        return {
            "messages": [m.as_json(self.base_url, with_metadata=with_metadata) for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _replies(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        self._require(params, "ts")
        root = self._existing(channel, str(params["ts"])).root
        if root != params["ts"]:
            # A reply's ts gives only that reply, as Slack does.
            return self._page([self.message(channel, str(params["ts"]))], params)
        return self._page(self.thread(channel, root), params)

    def _history(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        oldest = float(params.get("oldest") or 0)
        newest_first = [m for m in reversed(self.channel(channel)) if float(m.ts) > oldest]
        return self._page(newest_first, params)

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        upload = self._uploads.get(request.match_info["file_id"])
        if upload is None:
            raise web.HTTPNotFound(text="unknown upload")
        data = await request.read()
        if len(data) != upload.length:
            raise web.HTTPBadRequest(text=f"expected {upload.length} bytes, got {len(data)}")
        upload.data = data
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    async def _file(self, request: web.Request) -> web.StreamResponse:
        file = self.files.get(request.match_info["file_id"])
        if file is None or file.deleted:
            raise web.HTTPNotFound
        if bearer(request) != self.bot_token or not file.readable:
            # Slack's answer to a request it will not serve: its sign-in page, status 200.
            return web.Response(body=LOGIN_PAGE, content_type="text/html")
        if file.moved_to is not None:
            raise web.HTTPFound(file.moved_to)
        return web.Response(body=file.data, content_type=file.mimetype)

    async def _on_response_url(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        if token not in self._response_uses:
            raise web.HTTPNotFound(text="no_service")
        if self._response_uses[token] >= RESPONSE_URL_USES:
            raise web.HTTPNotFound(text="used_url")
        self._response_uses[token] += 1
        self.responses.append(json.loads(await request.read()))
        self._notify()
        return web.Response(text="ok", content_type="text/plain")


def _untouched_answer(element: Mapping[str, Any]) -> dict[str, Any]:
    """What Slack sends for an input nobody changed: its initial value, if any."""
    kind = element["type"]
    if kind == "static_select":
        return {"type": kind, "selected_option": element.get("initial_option")}
    if kind == "checkboxes":
        return {"type": kind, "selected_options": element.get("initial_options", [])}
    if kind == "file_input":
        return {"type": kind, "files": []}
    return {"type": kind, "value": element.get("initial_value")}


def _is_empty(answer: Mapping[str, Any]) -> bool:
    return not any(
        answer.get(key) for key in ("value", "selected_option", "selected_options", "files")
    )


def _check_view(view: Any) -> None:
    """What Slack's views.open refuses with invalid_arguments (the bits a bot gets wrong)."""
    ok = (
        isinstance(view, dict)
        and view.get("type") == "modal"
        and len(view.get("title", {}).get("text", "")) <= 24
        and 0 < len(view.get("blocks", [])) <= 100
        and len(view.get("private_metadata", "")) <= 3000
        and len(view.get("callback_id", "")) <= 255
    )
    if not ok:
        raise Refusal("invalid_arguments")
    block_ids = [b.get("block_id") for b in view["blocks"] if b.get("block_id")]
    if len(block_ids) != len(set(block_ids)):
        raise Refusal("invalid_arguments")
    for block in view["blocks"]:
        element = block.get("element", {})
        if element.get("type") == "plain_text_input":
            limit = element.get("max_length", 3000)
            if limit > 3000 or len(element.get("initial_value", "")) > limit:
                raise Refusal("invalid_arguments")
        options = element.get("options")
        if options is not None and not 0 < len(options) <= 100:
            raise Refusal("invalid_arguments")
        is_file_input = block["type"] == "input" and element.get("type") == "file_input"
        if is_file_input and not 1 <= element.get("max_files", 10) <= 10:
            raise Refusal("invalid_arguments")


class ForeignHost:
    """A server outside Slack: the host a remote file's app chose, or where a redirect points.
    It answers every GET with `body` (an image by default) and records every request, with
    its headers, so a test can tell whether the bot token ever reached it."""

    def __init__(self, body: bytes = b"", content_type: str = "image/png") -> None:
        self.body = body
        self.content_type = content_type
        self.requests: list[Recorded] = []
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    @property
    def saw_token(self) -> bool:
        return any("Authorization" in r.headers for r in self.requests)

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            Recorded(
                request.method,
                request.path,
                dict(request.query),
                dict(request.headers),
                await request.read(),
            )
        )
        return web.Response(body=self.body, content_type=self.content_type)

    async def __aenter__(self) -> ForeignHost:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
