"""The Web API methods veo-bot calls, checked the way Slack checks them (bearer token, required
arguments, Slack's error codes with HTTP 200): auth, chat, views and conversations."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.fakes._base import bearer
from tests.fakes.slack._model import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    TRIGGER_TTL_S,
    ApiCall,
    Message,
    Refusal,
    flag,
    json_arg,
    optional_flag,
)
from tests.fakes.slack._world import World


class WebApi(World):
    """`/api/{method}`: one handler per Web API method, in `_methods`."""

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

    def _page(self, messages: list[Message], params: Mapping[str, Any]) -> dict[str, Any]:
        start = int(params.get("cursor") or 0)
        limit = int(params.get("limit") or 100)
        page = messages[start : start + limit]
        more = start + limit < len(messages)
        with_metadata = flag(params.get("include_all_metadata"))
        return {
            "messages": [m.as_json(self.base_url, with_metadata=with_metadata) for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

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

    def _user_info(self, params: dict[str, Any]) -> dict[str, Any]:
        """A person, with their language only when asked for (`include_locale`), as Slack
        answers."""
        user_id = str(params.get("user") or "")
        if not user_id:
            raise Refusal("user_not_found")
        user: dict[str, Any] = {"id": user_id, "team_id": self.team_id, "name": user_id.lower()}
        if flag(params.get("include_locale")):
            user["locale"] = self.user_locales.get(user_id, "en-US")
        return {"user": user}

    def _post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._postable(params)
        blocks = json_arg(params.get("blocks")) or []
        if not params.get("text") and not blocks:
            raise Refusal("no_text")
        metadata = json_arg(params.get("metadata"))
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
            unfurl_links=optional_flag(params, "unfurl_links"),
            unfurl_media=optional_flag(params, "unfurl_media"),
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
        blocks = json_arg(params.get("blocks"))
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
        view = json_arg(params.get("view"))
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

    def _open(self, params: dict[str, Any]) -> dict[str, Any]:
        """conversations.open with one user: their DM with the bot, the same every time."""
        self._require(params, "users")
        users = str(params["users"]).split(",")
        if len(users) != 1 or users[0] == BOT_USER_ID:
            raise Refusal("cannot_dm_bot" if BOT_USER_ID in users else "not_enough_users")
        channel = self.dms.setdefault(users[0], self._id("D"))
        return {"channel": {"id": channel}}

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
