"""Socket Mode: apps.connections.open hands out a one-time websocket URL; envelopes are pushed
on the socket and the bot's acks collected."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.slack._model import APP_ID
from tests.fakes.slack._world import World


class SocketMode(World):
    """The Socket Mode websocket, and the Web API method that opens it."""

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

    def _connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        ticket = secrets.token_hex(8)
        self._tickets.add(ticket)
        host = self.base_url.removeprefix("http://")
        return {"url": f"ws://{host}/link/?ticket={ticket}&app_id={APP_ID}"}

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
