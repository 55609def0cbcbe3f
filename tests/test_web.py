"""The bot's web server answers /healthz with the database's state."""

from __future__ import annotations

import asyncio

import httpx

from adapters.console import ConsoleSurface
from bot.app import serve
from bot.settings import Settings


async def test_healthz_reports_the_database(settings: Settings) -> None:
    stop = asyncio.Event()
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(
        serve(
            settings, [], extra_surfaces={"console": ConsoleSurface()}, stop=stop, started=started
        )
    )
    try:
        port = await asyncio.wait_for(started, 10)
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{port}/healthz")
        assert response.status_code == 200
        assert response.json() == {"database": "ok", "status": "ok"}
    finally:
        stop.set()
        await asyncio.wait_for(server, 10)
