"""Files: upload v2 (an upload URL, then files.completeUploadExternal), files.info and
files.delete, `url_private` downloads behind the bot token (the HTML sign-in page without it),
and `ForeignHost`, a server outside Slack that such URLs can point to."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes._base import Recorded, bearer
from tests.fakes.slack._model import (
    BOT_USER_ID,
    LOGIN_PAGE,
    Message,
    Refusal,
    SlackFile,
    Upload,
    json_arg,
)
from tests.fakes.slack._web_api import WebApi


class Files(WebApi):
    """Upload v2, file info and deletion, and the downloads of `url_private`."""

    def _get_upload_url(self, params: dict[str, Any]) -> dict[str, Any]:
        self._require(params, "filename", "length")
        try:
            length = int(params["length"])
        except ValueError:
            raise Refusal("invalid_arguments") from None
        if length <= 0:
            raise Refusal("invalid_arguments")
        file_id = self._id("F")
        self._uploads[file_id] = Upload(str(params["filename"]), length)
        return {"upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _complete_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        self._require(params, "files")
        entries = json_arg(params["files"])
        channel = self._postable(params, "channel_id") if params.get("channel_id") else None
        done: list[SlackFile] = []
        for entry in entries:
            upload = self._uploads.get(str(entry.get("id")))
            if upload is None or upload.data is None:
                raise Refusal("file_not_found")
            mimetype = "video/mp4" if upload.filename.endswith(".mp4") else "binary"
            title = str(entry.get("title") or upload.filename)
            file = SlackFile(
                entry["id"], upload.filename, title, mimetype, upload.data, BOT_USER_ID
            )
            done.append(file)
        for file in done:
            del self._uploads[file.id]
            self.files[file.id] = file
        if channel is not None:
            thread_ts = params.get("thread_ts") or None
            if thread_ts is not None:
                thread_ts = self._existing(channel, str(thread_ts)).root
            comment = str(params.get("initial_comment") or "")
            self.messages.append(
                Message(channel, self._ts(), BOT_USER_ID, comment, thread_ts=thread_ts, files=done)
            )
        return {"files": [{"id": f.id, "title": f.title} for f in done]}

    def _file_info(self, params: dict[str, Any]) -> dict[str, Any]:
        file = self.files.get(str(params.get("file")))
        if file is None or file.deleted:
            raise Refusal("file_not_found")
        return {"file": file.as_json(self.base_url)}

    def _file_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        file = self.files.get(str(params.get("file")))
        if file is None or file.deleted:
            raise Refusal("file_not_found")
        if file.user != BOT_USER_ID:
            raise Refusal("cant_delete_file")
        file.deleted = True
        return {}

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        upload = self._uploads.get(request.match_info["file_id"])
        if upload is None:
            raise web.HTTPNotFound(text="unknown upload")
        data = await request.read()
        if len(data) != upload.length:
            raise web.HTTPBadRequest(text=f"expected {upload.length} bytes, got {len(data)}")
        upload.data = data
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    async def _file(self, request: web.Request) -> web.StreamResponse:
        file = self.files.get(request.match_info["file_id"])
        if file is None or file.deleted:
            raise web.HTTPNotFound
        if bearer(request) != self.bot_token or not file.readable:
            # Slack's answer to a request it will not serve: its sign-in page, status 200.
            return web.Response(body=LOGIN_PAGE, content_type="text/html")
        if file.moved_to is not None:
            raise web.HTTPFound(file.moved_to)
        return web.Response(body=file.data, content_type=file.mimetype)


class ForeignHost:
    """A server outside Slack: the host a remote file's app chose, or where a redirect points.
    It answers every GET with `body` (an image by default) and records every request, with
    its headers, so a test can tell whether the bot token ever reached it."""

    def __init__(self, body: bytes = b"", content_type: str = "image/png") -> None:
        self.body = body
        self.content_type = content_type
        self.requests: list[Recorded] = []
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    @property
    def saw_token(self) -> bool:
        return any("Authorization" in r.headers for r in self.requests)

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            Recorded(
                request.method,
                request.path,
                dict(request.query),
                dict(request.headers),
                await request.read(),
            )
        )
        return web.Response(body=self.body, content_type=self.content_type)

    async def __aenter__(self) -> ForeignHost:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
