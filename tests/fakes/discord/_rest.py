"""The REST API v10 that discord.py calls: the bot token checked on every call, faults and
held answers, commands, channels, messages (checked against Discord's limits), threads and DMs."""

from __future__ import annotations

import asyncio
import fnmatch
import json
import math
import mimetypes
import secrets
from collections.abc import Sequence
from typing import Any

from aiohttp import BodyPartReader, web

from tests.fakes._base import Fault
from tests.fakes.discord._gateway import Gateway
from tests.fakes.discord._model import (
    API_PREFIX,
    BODY,
    CHAT_INPUT,
    COMMAND_NAME,
    DISCORD_LOCALES,
    DM,
    GUILD_TEXT,
    LOADING,
    PUBLIC_THREAD,
    Attachment,
    DiscordError,
    Handler,
    Hold,
    Message,
    RequestBody,
    RestCall,
    invalid_form,
    json_response,
)


class Rest(Gateway):
    """The REST API, with the faults a test injects into it."""

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

    # --- serving -----------------------------------------------------------------------

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
    async def _read_body(request: web.Request) -> RequestBody:
        if request.content_type == "multipart/form-data":
            body = RequestBody()
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
        return RequestBody(json=json.loads(raw) if raw else None)

    async def _open_dm(self, request: web.Request) -> web.Response:
        """Create DM: the same channel for the same user every time."""
        recipient = str((request[BODY].json or {}).get("recipient_id", ""))
        user = self.users.get(int(recipient)) if recipient.isdigit() else None
        if user is None or user.bot:
            raise DiscordError(400, 50033, "Invalid Recipient(s)")
        return json_response(self.channels[self.dm_channel(user)])

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
        if request.path.endswith("/bot"):
            self._gateway_bot_asked += 1
            self._notify()
            await self.wait_for(lambda: self._gateway_bot_asked >= self.gateway_bot_gate)
        return json_response(
            {
                "url": self.gateway_url.removesuffix("/gateway"),
                "shards": self.recommended_shards,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 0,
                    "max_concurrency": self.max_concurrency,
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
            if not COMMAND_NAME.match(name) or name != name.lower():
                raise invalid_form(f"command name {name!r} is not a valid slash command name")
            if not 1 <= len(command.get("description", "")) <= 100:
                raise invalid_form(f"/{name} needs a description of 1 to 100 characters")
        elif not 1 <= len(name) <= 32:
            raise invalid_form(f"context menu name {name!r} must be 1 to 32 characters")
        options = command.get("options", [])
        if len(options) > 25:
            raise invalid_form(f"/{name} has more than 25 options")
        names = [option["name"] for option in options]
        if len(set(names)) != len(names):
            raise invalid_form(f"/{name} has two options of one name")
        seen_optional = False
        for option in options:
            if not COMMAND_NAME.match(option["name"]) or option["name"] != option["name"].lower():
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
        self._check_localizations(command, slash=kind == CHAT_INPUT)
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

    def _check_localizations(self, item: dict[str, Any], *, slash: bool) -> None:
        """Discord's rules for a command's (or option's) localised names and descriptions:
        known locales; names as strict as the name itself; descriptions of 1 to 100."""
        for locale, said in (item.get("name_localizations") or {}).items():
            if locale not in DISCORD_LOCALES:
                raise invalid_form(f"{locale!r} is not a Discord locale")
            if slash and (not COMMAND_NAME.match(said) or said != said.lower()):
                raise invalid_form(f"localised name {said!r} ({locale}) is not a valid name")
            if not 1 <= len(said) <= 32:
                raise invalid_form(f"localised name {said!r} ({locale}) must be 1 to 32 long")
        for locale, said in (item.get("description_localizations") or {}).items():
            if locale not in DISCORD_LOCALES:
                raise invalid_form(f"{locale!r} is not a Discord locale")
            if not 1 <= len(said) <= 100:
                raise invalid_form(f"localised description ({locale}) must be 1 to 100 long")
        for option in item.get("options") or []:
            self._check_localizations(option, slash=True)

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
        body: RequestBody = request[BODY]
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
        body: RequestBody = request[BODY]
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
