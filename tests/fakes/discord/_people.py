"""What people do: slash commands, autocomplete, the Apps menu, buttons and modals, each sent
to the bot as an INTERACTION_CREATE built from the commands the bot registered."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from tests.fakes.discord._gateway import Gateway
from tests.fakes.discord._model import (
    APPLICATION_COMMAND,
    ATTACHMENT_OPTION,
    AUTOCOMPLETE,
    CHANNEL_OPTION,
    CHAT_INPUT,
    MESSAGE_COMMAND,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    SUB_COMMAND,
    SUB_COMMAND_GROUP,
    USER_OPTION,
    Attachment,
    Interaction,
    Message,
    User,
)

BOT_DM_CONTEXT = 1  # an interaction context type: the DM between the person and the bot


class People(Gateway):
    """The people on the server, acting through interactions."""

    async def slash(
        self,
        name: str,
        options: Mapping[str, object] | None = None,
        *,
        user: User | None = None,
        channel_id: int | None = None,
        in_dm: bool = False,
    ) -> Interaction:
        """A person runs `/name` with these options (attachments as `upload()` returned them,
        users as `User`s, channels by id); `name` may hold a subcommand, `"veo-admin limits"`,
        or a group and its subcommand, `"veo-admin channel allow"`. `in_dm`: in their direct
        message with the bot, which Discord offers only to commands whose `contexts` name it."""
        top, _, sub = name.partition(" ")
        command = self.registered(top, CHAT_INPUT)
        if in_dm:
            contexts = command.get("contexts")
            assert contexts is None or BOT_DM_CONTEXT in contexts, f"/{top} is not offered in DMs"
        group, _, inner = sub.partition(" ")
        if inner:
            grouped = self._option(command, group)
            assert grouped["type"] == SUB_COMMAND_GROUP, f"{group!r} is not a group of /{top}"
            subcommand = self._option(grouped, inner)
            assert subcommand["type"] == SUB_COMMAND, f"{inner!r} is not a subcommand of {group}"
            given, resolved = self._options(subcommand, options or {})
            given = [
                {
                    "name": group,
                    "type": SUB_COMMAND_GROUP,
                    "options": [{"name": inner, "type": SUB_COMMAND, "options": given}],
                }
            ]
        elif sub:
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
        return await self._interact(
            APPLICATION_COMMAND, data, user=user, channel_id=channel_id, in_dm=in_dm
        )

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
            in_dm=message.channel_id in self.dms.values(),
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
            elif option["type"] == CHANNEL_OPTION:
                assert isinstance(value, int) and value in self.channels, f"{name}: a channel id"
                # Resolved channels carry the member's permissions in them.
                channel = {**self.channels[value], "permissions": str((1 << 53) - 1)}
                resolved.setdefault("channels", {})[str(value)] = channel
                value = str(value)
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
        in_dm: bool = False,
    ) -> Interaction:
        user = user or self.owner
        if in_dm:
            channel_id = self.dm_channel(user)
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
            "locale": user.locale,
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.guild_id)},
            "context": 0,
            "attachment_size_limit": self.attachment_size_limit,
        }
        if in_dm:
            # A DM with the bot: no server, no member; the person as `user`, context BOT_DM.
            for key in ("guild_id", "guild", "member", "guild_locale"):
                del payload[key]
            payload["user"] = user.payload()
            payload["context"] = BOT_DM_CONTEXT
        if message is not None:
            payload["message"] = message.payload()
        interaction.payload = payload
        self.interactions[interaction.id] = interaction
        await self.dispatch("INTERACTION_CREATE", payload)
        return interaction
