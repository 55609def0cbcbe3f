"""What Slack sends the bot: slash commands, shortcuts, button clicks, view submissions and
events, signed with the signing secret and posted to the bot's `/slack/events`, and the
response_url the bot answers on; `text_value` and friends build a view's answers."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tests.fakes.slack._model import APP_ID, BOT_USER_ID, RESPONSE_URL_USES, BotReply, Message
from tests.fakes.slack._world import World


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


class ToTheBot(World):
    """Slack's part towards the bot: payloads, signatures, and the response_url it offers."""

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
