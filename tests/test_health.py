"""A replica's /healthz on PostgreSQL: the database answering or not (a stalled connection
is unreachable after a short wait, not a hung health check), this replica's worker id, and
the named parts other features report there (the Discord shards held)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
from aiohttp import web

from bot.clock import ManualClock
from bot.links import MediaLinks
from bot.web import SCRAPE_CACHE_S, build_web_app
from storage.postgres import PostgresStore
from tests.support import RecordingSurface, ScriptedProvider, make_service


class StallingProxy:
    """A TCP proxy in front of PostgreSQL that can stop passing bytes (`stall`): a database
    that went silent without closing its connections, as after a network cut."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._running = asyncio.Event()
        self._running.set()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def stall(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    async def close(self) -> None:
        self._running.set()
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._running.wait()
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def through_proxy(url: str) -> AsyncIterator[tuple[StallingProxy, str]]:
    parts = urlsplit(url)
    proxy = StallingProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    netloc = (
        f"{parts.username}@127.0.0.1:{proxy.port}" if parts.username else f"127.0.0.1:{proxy.port}"
    )
    try:
        yield proxy, urlunsplit(parts._replace(netloc=netloc))
    finally:
        await proxy.close()


async def test_healthz_says_which_replica_and_whether_the_database_answers(
    postgres_url: str, tmp_path: Path
) -> None:
    clock = ManualClock(1_790_000_000.0)
    async with through_proxy(postgres_url) as (proxy, url):
        store = await PostgresStore.open(url)
        service = make_service(
            store,
            tmp_path,
            providers={"scripted": ScriptedProvider()},
            surfaces={"chat": RecordingSurface()},
            clock=clock,
        )
        app = build_web_app(
            store,
            MediaLinks(None, "s" * 32, clock),
            service=service,
            parts={"shards": lambda: [0, 2]},
            ping_timeout_s=0.2,
        )
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        health = f"http://127.0.0.1:{runner.addresses[0][1]}/healthz"
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                up = await client.get(health)
                assert up.status_code == 200
                assert up.json() == {
                    "database": "ok",
                    "worker": service.config.worker_id,
                    "shards": [0, 2],
                    "status": "ok",
                }
                proxy.stall()
                clock.advance(SCRAPE_CACHE_S)
                down = await client.get(health)
                assert down.status_code == 503
                assert (down.json()["database"], down.json()["status"]) == (
                    "unreachable",
                    "degraded",
                )
                # Back: healthy again, the stalled ping having ended meanwhile.
                proxy.resume()
                clock.advance(SCRAPE_CACHE_S)
                assert (await client.get(health)).status_code == 200
        finally:
            proxy.resume()
            await runner.cleanup()
            await store.close()
