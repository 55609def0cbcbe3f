"""The gateway: a websocket with HELLO, heartbeats, IDENTIFY -> READY + GUILD_CREATE, RESUME
with replay and RECONNECT, and the events it dispatches when the world changes.

Shards: an IDENTIFY may name `shard: [shard_id, shard_count]`; each shard has its own session,
the server's events go to the shard Discord's formula gives it (`(guild_id >> 22) % count`),
and READY names the shard. Every IDENTIFY is kept in `identified`; a second live connection
identifying as a shard already connected is a violation (the bot must hold each shard once)."""

from __future__ import annotations

import contextlib
import json
import secrets
from typing import Any

from aiohttp import web

from tests.fakes.discord._model import (
    GUILD_TEXT,
    HEARTBEAT_INTERVAL_MS,
    MEMBER_PERMISSIONS,
    PUBLIC_THREAD,
    Frame,
    GatewaySession,
    iso,
)
from tests.fakes.discord._world import World


class Gateway(World):
    """The gateway websocket, and the events that reach the bot over it."""

    @property
    def guild_shard(self) -> int:
        """The shard the server's events go to."""
        return (self.guild_id >> 22) % self._shard_count

    @property
    def _session(self) -> GatewaySession | None:
        return self.sessions.get(self.guild_shard)

    def live_shards(self) -> list[int]:
        """The shards with a live connection now, one entry per connection."""
        return sorted(
            shard
            for shard, session in self.sessions.items()
            if session.socket is not None and not session.socket.closed
        )

    async def wait_shards(self, shards: list[int], *, timeout_s: float = 10.0) -> None:
        """Until exactly `shards` have a live connection, each with READY sent."""

        def connected() -> bool:
            return self.live_shards() == sorted(shards) and all(
                self.sessions[s].seq >= 1 for s in shards
            )

        await self.wait_for(connected, timeout_s=timeout_s)

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

    async def dispatch(
        self, event: str, data: Any, *, session: GatewaySession | None = None
    ) -> None:
        """Send a DISPATCH (op 0) to the bot on the server's shard (or `session`), or keep it
        for the RESUME if it is away."""
        session = session or self._session
        assert session is not None, "the bot has not identified on the server's shard"
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
            for session in self.sessions.values():
                if session.socket is ws:
                    session.socket = None
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
            named = data.get("shard")
            shard, count = (int(named[0]), int(named[1])) if named else (0, 1)
            if not 0 <= shard < count:
                self.violations.append(f"IDENTIFY as shard {shard} of {count}")
                await ws.close(code=4010, message=b"Invalid shard.")
                return
            earlier = self.sessions.get(shard)
            if earlier is not None and earlier.socket is not None and not earlier.socket.closed:
                self.violations.append(f"shard {shard} identified on a second connection")
            self.identifies += 1
            self.identified.append((shard, count))
            self._shard_count = count
            fresh = self.sessions[shard] = GatewaySession(
                secrets.token_hex(16), shard=shard, socket=ws
            )
            self._connected_at = self.now()
            ready = self._ready_payload(fresh.id)
            mine = self.guild_shard == shard
            if named:
                ready["shard"] = [shard, count]
            if not mine:
                ready["guilds"] = []
            await self.dispatch("READY", ready, session=fresh)
            if mine:
                await self.dispatch("GUILD_CREATE", self._guild_payload(), session=fresh)
            self._notify()
        elif op == 6:
            found = [s for s in self.sessions.values() if s.id == data.get("session_id")]
            session = found[0] if found else None
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
            await self.dispatch("RESUMED", {}, session=session)  # discord.py writes into it
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
            "joined_at": iso(joined),
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
