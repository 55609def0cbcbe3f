"""The CDN: attachments behind signed, expiring URLs, as Discord serves them."""

from __future__ import annotations

import hmac

from aiohttp import web

from tests.fakes.discord._world import World


class Cdn(World):
    """Serves an attachment only to a URL whose signature holds and has not expired."""

    async def _cdn(self, request: web.Request) -> web.Response:
        self.cdn_requests.append(request.path)
        attachment = self.attachments.get(int(request.match_info["id"]))
        try:
            expires = int(request.query.get("ex", ""), 16)
        except ValueError:
            expires = 0
        signed = hmac.compare_digest(self._sign(request.path, expires), request.query.get("hm", ""))
        if attachment is None or not signed or self.now() > expires:
            # What Discord's CDN says about an unsigned or expired link.
            return web.Response(status=404, text="This content is no longer available.")
        return web.Response(
            body=attachment.data,
            headers={"Content-Type": attachment.content_type or "application/octet-stream"},
        )
