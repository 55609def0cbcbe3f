"""The bot's web server: /healthz with the database's state, /metrics, its access log, and
what it does with slow or idle connections."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from adapters.console import ConsoleSurface
from bot.app import serve
from bot.clock import ManualClock
from bot.links import MediaLinks
from bot.models import GenerationRequest
from bot.settings import Settings
from bot.web import SCRAPE_CACHE_S, build_web_app
from storage.sqlite import SqliteStore
from tests.support import RecordingSurface, ScriptedProvider, make_service, origin


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
        report = response.json()
        assert report == {"database": "ok", "worker": report["worker"], "status": "ok"}
        host, pid, _token = str(report["worker"]).split(":")
        assert (host, pid) == (socket.gethostname(), str(os.getpid()))
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


async def _rest_until_closed(reader: asyncio.StreamReader) -> bytes:
    """What the server still sends until it closes the connection (the caller's timeout
    bounds the wait)."""
    with contextlib.suppress(ConnectionResetError):
        return await reader.read()
    return b""


async def test_slow_headers_and_idle_keep_alive_sockets_are_closed_requests_still_work(
    settings: Settings,
) -> None:
    stop = asyncio.Event()
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(
        serve(
            settings,
            [],
            extra_surfaces={"console": ConsoleSurface()},
            stop=stop,
            started=started,
            idle_timeout_s=1.0,
        )
    )
    sockets: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        port = await asyncio.wait_for(started, 10)
        for index in range(500):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            sockets.append((reader, writer))
            if index % 2:
                # Slowloris: a request head that never ends.
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: bot\r\nX-Slow: a")
            else:
                # One request answered, then the connection kept open and idle.
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: bot\r\n\r\n")
                head = await reader.readuntil(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200 ")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
        async with asyncio.timeout(30):
            rest = await asyncio.gather(*(_rest_until_closed(r) for r, _ in sockets))
        assert rest == [b""] * 500  # closed, with nothing more said
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
    finally:
        for _, writer in sockets:
            writer.close()
        stop.set()
        await asyncio.wait_for(server, 10)


async def test_metrics_scraped_many_times_read_the_job_counts_once_per_few_seconds(
    store: SqliteStore, tmp_path: Path
) -> None:
    clock = ManualClock(1_790_000_000.0)
    service = make_service(
        store,
        tmp_path,
        providers={"scripted": ScriptedProvider()},
        surfaces={"chat": RecordingSurface()},
        clock=clock,
    )
    runner = web.AppRunner(build_web_app(store, MediaLinks(None, "s" * 32, clock), service=service))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/metrics"
    pending = 'veo_jobs{state="pending"}'
    try:
        async with httpx.AsyncClient() as client:
            assert f"{pending} 0" in (await client.get(url)).text.splitlines()
            # A job arrives (no scheduler runs, so it stays pending): scrapes within the
            # cache's few seconds answer from the last reading, not from the database.
            await service.submit(GenerationRequest(prompt="p", duration_s=8), origin())
            clock.advance(SCRAPE_CACHE_S - 0.5)
            scrapes = await asyncio.gather(*(client.get(url) for _ in range(50)))
            assert all(f"{pending} 0" in s.text.splitlines() for s in scrapes)
            clock.advance(0.5)
            assert f"{pending} 1" in (await client.get(url)).text.splitlines()
    finally:
        await runner.cleanup()


async def test_healthz_reads_the_database_once_per_few_seconds(
    tmp_path: Path,
) -> None:
    clock = ManualClock(1_790_000_000.0)
    store = await SqliteStore.open(tmp_path / "health.db")
    runner = web.AppRunner(build_web_app(store, MediaLinks(None, "s" * 32, clock), clock=clock))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/healthz"
    try:
        async with httpx.AsyncClient() as client:
            assert (await client.get(url)).json()["database"] == "ok"
            await store.close()  # the database goes away
            cached = await asyncio.gather(*(client.get(url) for _ in range(20)))
            assert {r.json()["database"] for r in cached} == {"ok"}
            clock.advance(SCRAPE_CACHE_S)
            down = await client.get(url)
            assert (down.status_code, down.json()["database"]) == (503, "unreachable")
    finally:
        await runner.cleanup()
