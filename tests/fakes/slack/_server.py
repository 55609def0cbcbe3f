"""`FakeSlack`: the Web API, files, the response_url and Socket Mode on one aiohttp server on
127.0.0.1."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from tests.fakes._base import Recorded
from tests.fakes.slack._files import Files
from tests.fakes.slack._model import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, TEAM_ID, Handler
from tests.fakes.slack._requests import ToTheBot
from tests.fakes.slack._socket_mode import SocketMode


class FakeSlack(Files, SocketMode, ToTheBot):
    """A fake Slack on 127.0.0.1 (see the package's docstring)."""

    def __init__(
        self,
        *,
        bot_token: str = BOT_TOKEN,
        app_token: str = APP_TOKEN,
        signing_secret: str = SIGNING_SECRET,
        team_id: str = TEAM_ID,
    ) -> None:
        super().__init__(
            bot_token=bot_token,
            app_token=app_token,
            signing_secret=signing_secret,
            team_id=team_id,
        )
        self._methods.update(
            {
                "auth.test": self._auth_test,
                "users.info": self._user_info,
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
        )
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
