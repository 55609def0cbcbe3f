"""The bot's web server answers /healthz with the database's state."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

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


async def test_the_access_log_shows_paths_and_statuses_but_no_tokens_or_signatures(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    stop = asyncio.Event()
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(
        serve(
            settings, [], extra_surfaces={"console": ConsoleSurface()}, stop=stop, started=started
        )
    )
    try:
        port = await asyncio.wait_for(started, 10)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as client:
            media = await client.get(
                f"{base}/media/abc123/first_frame/0?expires=9999999999&signature=SIGNATURE1"
            )
            result = await client.get(
                f"{base}/results/abc123.mp4?expires=9999999999&signature=SIGNATURE2"
            )
            callback = await client.post(f"{base}/callbacks/local/abc123?token=TOKEN3", json={})
            health = await client.get(f"{base}/healthz?token=TOKEN4")
    finally:
        stop.set()
        await asyncio.wait_for(server, 10)
    assert (media.status_code, result.status_code, callback.status_code) == (403, 403, 404)
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    for method, path, status in [
        ("GET", "/media/abc123/first_frame/0", 403),
        ("GET", "/results/abc123.mp4", 403),
        ("POST", "/callbacks/local/abc123", 404),
        ("GET", "/healthz", health.status_code),
    ]:
        assert any(f'"{method} {path} HTTP/1.1" {status} ' in line for line in lines), lines
    for secret in ("SIGNATURE1", "SIGNATURE2", "TOKEN3", "TOKEN4", "expires="):
        assert secret not in caplog.text
