"""The fake's state and the world it keeps: channels, messages, files people share, what the
bot did there, and the faults a test injects."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from tests.fakes._base import Fault, Recorded
from tests.fakes.slack._model import (
    APP_TOKEN,
    BOT_TOKEN,
    BOT_USER_ID,
    SIGNING_SECRET,
    TEAM_ID,
    ApiCall,
    Hold,
    Message,
    SlackFile,
    Upload,
)

T = TypeVar("T")


class World:
    """What the fake holds, what people put there, and the faults it will answer with."""

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
        # Each person's Slack language (users.info with include_locale); en-US otherwise.
        self.user_locales: dict[str, str] = {}
        self.left: set[str] = set()  # channels the bot was removed from
        self.archived: set[str] = set()
        self.ephemerals: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []  # what was posted to response_urls
        self.views: list[dict[str, Any]] = []  # every view opened, as views.open returned it
        self.socket_acks: dict[str, dict[str, Any]] = {}
        self._uploads: dict[str, Upload] = {}
        self._triggers: dict[str, float] = {}
        self._used_triggers: set[str] = set()
        self._response_uses: dict[str, int] = {}
        self._tickets: set[str] = set()
        self._holds: list[Hold] = []
        self._sockets: list[web.WebSocketResponse] = []
        self._changed = asyncio.Event()
        self._ids = itertools.count(1)
        self._last_ts = 0.0
        # Web API method -> its handler (`WebApi`), filled in by `FakeSlack`.
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}
        self._session: aiohttp.ClientSession | None = None
        self.base_url = ""

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

    # --- ids ----------------------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        return f"{prefix}0{next(self._ids):06d}"

    def _ts(self) -> str:
        # Real time, strictly increasing: bots compare ts values with times (oldest=...).
        self._last_ts = max(time.time(), self._last_ts + 0.000001)
        return f"{self._last_ts:.6f}"
