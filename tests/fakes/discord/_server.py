"""`FakeDiscord`: the gateway, the REST API, the interaction webhooks and the CDN on one
aiohttp server on 127.0.0.1."""

from __future__ import annotations

from aiohttp import web

from tests.fakes.discord._cdn import Cdn
from tests.fakes.discord._interactions import InteractionWebhooks
from tests.fakes.discord._model import (
    ACK_DEADLINE_S,
    API_PREFIX,
    DEFAULT_UPLOAD_LIMIT,
    TOKEN,
    TOKEN_TTL_S,
)
from tests.fakes.discord._people import People


class FakeDiscord(People, InteractionWebhooks, Cdn):
    """A fake Discord on 127.0.0.1 (see the package's docstring)."""

    def __init__(
        self,
        *,
        token: str = TOKEN,
        attachment_size_limit: int = DEFAULT_UPLOAD_LIMIT,
        ack_deadline_s: float = ACK_DEADLINE_S,
        token_ttl_s: float = TOKEN_TTL_S,
    ) -> None:
        super().__init__(
            token=token,
            attachment_size_limit=attachment_size_limit,
            ack_deadline_s=ack_deadline_s,
            token_ttl_s=token_ttl_s,
        )
        api = API_PREFIX
        self.app = web.Application(middlewares=[self._middleware], client_max_size=256 * 1024**2)
        self.app.add_routes(
            [
                web.get(f"{api}/users/@me", self._me),
                web.post(f"{api}/users/@me/channels", self._open_dm),
                web.get(f"{api}/oauth2/applications/@me", self._application),
                web.get(f"{api}/gateway", self._gateway_info),
                web.get(f"{api}/gateway/bot", self._gateway_info),
                web.put(f"{api}/applications/{{app}}/commands", self._put_commands),
                web.get(f"{api}/applications/{{app}}/commands", self._get_commands),
                web.put(
                    f"{api}/applications/{{app}}/guilds/{{guild}}/commands", self._put_commands
                ),
                web.get(
                    f"{api}/applications/{{app}}/guilds/{{guild}}/commands", self._get_commands
                ),
                web.post(f"{api}/interactions/{{id}}/{{token}}/callback", self._callback),
                web.post(f"{api}/webhooks/{{app}}/{{token}}", self._followup),
                web.route("*", f"{api}/webhooks/{{app}}/{{token}}/messages/{{id}}", self._webhook),
                web.get(f"{api}/channels/{{channel}}", self._get_channel),
                web.post(f"{api}/channels/{{channel}}/messages", self._create_message),
                web.get(f"{api}/channels/{{channel}}/messages", self._history),
                web.route("*", f"{api}/channels/{{channel}}/messages/{{id}}", self._message),
                web.post(f"{api}/channels/{{channel}}/messages/{{id}}/threads", self._thread),
                web.get("/attachments/{channel}/{id}/{filename}", self._cdn),
                web.get("/gateway", self._gateway),
                web.get("/resume", self._gateway),
            ]
        )
        self._runner: web.AppRunner | None = None

    # --- life ---------------------------------------------------------------------------

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)  # bursts in benches
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.base_url

    async def close(self) -> None:
        for hold in self.holds:
            hold.release()
        for ws in list(self._sockets):
            await ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
