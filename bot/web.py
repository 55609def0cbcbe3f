"""The bot's own web server (aiohttp): health now; provider callbacks and Slack events mount
here too."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from bot.ports import Store

log = logging.getLogger(__name__)

STORE_KEY = web.AppKey("store", Store)
CHECKS_KEY = web.AppKey("checks", dict[str, Callable[[], bool]])


async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers and every chat adapter is connected, 503 otherwise."""
    report: dict[str, object] = {}
    healthy = True
    try:
        await request.app[STORE_KEY].ping()
        report["database"] = "ok"
    except Exception as exc:
        log.warning("health check: database: %s", type(exc).__name__)
        report["database"] = "unreachable"
        healthy = False
    for name, check in request.app[CHECKS_KEY].items():
        ok = check()
        report[name] = "ok" if ok else "down"
        healthy = healthy and ok
    report["status"] = "ok" if healthy else "degraded"
    return web.json_response(report, status=200 if healthy else 503)


def build_web_app(
    store: Store, checks: dict[str, Callable[[], bool]] | None = None
) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app[STORE_KEY] = store
    app[CHECKS_KEY] = dict(checks or {})
    app.router.add_get("/healthz", healthz)
    return app
