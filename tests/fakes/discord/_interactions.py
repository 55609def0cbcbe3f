"""Interactions and their webhook: the callback (once, within the acknowledgement deadline),
follow-ups and edits of the original response while the interaction token lives."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.discord._model import (
    BODY,
    CALLBACKS_ALLOWED,
    EPHEMERAL,
    LOADING,
    DiscordError,
    Interaction,
    Message,
    RequestBody,
    invalid_form,
    json_response,
)
from tests.fakes.discord._rest import Rest


class InteractionWebhooks(Rest):
    """The endpoints that answer an interaction, authorized by its token, not the bot's."""

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
        body: RequestBody = request[BODY]
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
        body: RequestBody = request[BODY]
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
        body: RequestBody = request[BODY]
        self._edit(message, body.json or {}, body.files)
        return json_response(message.payload())
