"""Relay memory: 20 deliveries of 50 MB results at once, each downloaded from the gateway fake
(streamed to disk by the core) and posted to a Slack fake. Peak RSS of the bot's process over
its baseline, sampled every 2 ms.

Measured twice, each in a fresh process, with the fakes in another: through the real Slack
surface (upload v2, streamed from disk), and through a surface that takes the file without
posting it anywhere, which leaves only the core's own share (download to disk). The scheduler
runs with 20 steps per provider here (its default is 8) so that the 20 deliveries overlap."""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import os
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from aiohttp import web

from adapters.providers.gateway import GatewayProvider
from adapters.slack import create_adapter
from bench._harness import (
    HeldGateway,
    NullSurface,
    RssSampler,
    Side,
    count_in,
    in_child,
    make_service,
    recv,
    rss_mb,
    wait_until,
)
from bot.clock import SystemClock
from bot.links import MediaLinks
from bot.models import GenerationRequest, JobState, Origin
from bot.ports import ChatSurface
from bot.scheduler import Scheduler
from bot.settings import Settings
from storage.sqlite import SqliteStore
from tests.fakes._base import Handler, sample_mp4
from tests.fakes.gateway import API_KEY
from tests.fakes.slack import FakeSlack

DELIVERIES = 20
VIDEO_BYTES = 50 * 1024 * 1024
TARGET = "< 200 MB over baseline"


class CountingSlack(FakeSlack):
    """The Slack fake, counting uploaded bytes instead of keeping them (its own memory is not
    what is measured, but 1 GB of kept uploads would crowd the machine)."""

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/upload/"):
            return await handler(request)
        return await super()._middleware(request, handler)

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        upload = self._uploads.get(request.match_info["file_id"])
        if upload is None:
            raise web.HTTPNotFound(text="unknown upload")
        size = 0
        async for chunk in request.content.iter_chunked(1 << 20):
            size += len(chunk)
        if size != upload.length:
            raise web.HTTPBadRequest(text=f"expected {upload.length} bytes, got {size}")
        upload.data = b""
        return web.Response(text=f"OK - {size}", content_type="text/plain")


async def _fakes_side(conn: Connection) -> None:
    video = sample_mp4() + os.urandom(VIDEO_BYTES - len(sample_mp4()))
    gateway = HeldGateway(video=video, credits=10**6)
    await gateway.start()
    async with CountingSlack() as slack:
        conn.send(
            {"gateway": gateway.base_url, "slack_api": slack.api_url, "token": slack.bot_token}
        )
        while (message := await recv(conn)) != "stop":
            for task_id in message:
                gateway.finish(task_id)
            gateway.requests.clear()
            slack.requests.clear()
            conn.send(len(message))
    await gateway.close()


async def _bot(surface_kind: str, conn: Connection) -> None:
    side = Side(_fakes_side)
    try:
        info = await side.recv()
        with tempfile.TemporaryDirectory() as folder:
            conn.send(await _measure(side, info, surface_kind, Path(folder)))
    except Exception as exc:
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        side.send("stop")
        side.close()


async def _measure(
    side: Side, info: dict[str, Any], surface_kind: str, folder: Path
) -> dict[str, Any]:
    surface: ChatSurface
    if surface_kind == "slack":
        settings = Settings(
            _env_file=None,
            slack_bot_token=info["token"],
            slack_signing_secret="unused",
            slack_api_url=info["slack_api"],
        )
        surface = create_adapter(settings).surface
    else:
        surface = NullSurface()
    store = await SqliteStore.open(folder / "relay.db")
    provider = GatewayProvider(info["gateway"], API_KEY, MediaLinks(None, "s", SystemClock()))
    service = make_service(
        store,
        folder / "downloads",
        providers={"gateway": provider},
        surfaces={surface.platform: surface},
        default_provider="gateway",
        poll_interval_s=3600,
    )
    scheduler = Scheduler(service, per_provider=DELIVERIES)
    try:
        await scheduler.start()
        request = GenerationRequest(prompt="harbour at dawn", model="veo-3.1-fast-generate-preview")
        jobs = [
            await service.submit(
                request,
                Origin(platform=surface.platform, workspace_id="T1", channel_id="C1", user_id="U1"),
            )
            for _ in range(DELIVERIES)
        ]

        async def at_provider() -> bool:
            return await count_in(store, (JobState.SUBMITTED,)) == DELIVERIES

        await wait_until(at_provider, timeout_s=60)
        current = [await store.get_job(job.id) for job in jobs]
        side.send([job.provider_job_id for job in current if job is not None])
        await side.recv()
        gc.collect()
        await asyncio.sleep(0.5)
        baseline = rss_mb()
        start = time.perf_counter()
        with RssSampler() as sampler:
            for job in current:
                assert job is not None
                await service.on_callback(job)  # what POST /callbacks/... does

            async def delivered() -> bool:
                return await count_in(store, (JobState.DELIVERED,)) == DELIVERIES

            await wait_until(delivered, timeout_s=240, step_s=0.02)
        seconds = time.perf_counter() - start
        failed = await count_in(store, (JobState.FAILED,))
        return {
            "baseline_mb": baseline,
            "peak_mb": sampler.peak_mb,
            "seconds": seconds,
            "failed": failed,
        }
    finally:
        await scheduler.stop()
        await provider.aclose()
        await store.close()


def run() -> list[tuple[str, str, str]]:
    rows = []
    for kind, label in (("slack", "Slack surface"), ("streaming", "core alone")):
        name = f"relay {DELIVERIES} x 50 MB at once, {label}"
        result = in_child(functools.partial(_bot, kind), timeout_s=400)
        if "error" in result:
            rows.append((name, f"did not run: {result['error']}"[:120], TARGET))
            continue
        over = result["peak_mb"] - result["baseline_mb"]
        mb_s = DELIVERIES * VIDEO_BYTES / 1e6 / result["seconds"]
        rows.append(
            (
                name,
                f"peak +{over:.0f} MB over {result['baseline_mb']:.0f} MB "
                f"({result['seconds']:.1f} s, {mb_s:.0f} MB/s)",
                TARGET,
            )
        )
    return rows


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))
