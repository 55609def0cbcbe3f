"""End-to-end overhead: from the provider marking a job done to the 5 MB MP4 in the chat thread,
over the webhook path (the provider POSTs /callbacks/gateway/{job_id} to the bot's web server)
and over the poll path (1 s interval), against the gateway fake and the Slack fake.

The floor is a bare httpx script making the same calls and nothing else: the status GET, the
5 MB download, and Slack's three upload v2 calls. Overhead is the bot's p50 minus the floor's
p50; the ratio is the one over the other. All parties share this process and its event loop,
bot and floor alike, one delivery at a time."""

from __future__ import annotations

import asyncio
import json
import os
import random
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiohttp import web

from adapters.providers.gateway import GatewayProvider
from adapters.slack import create_adapter
from bench._harness import HeldGateway, make_service, ms, percentile, quiet_logs, wait_until
from bot.clock import SystemClock
from bot.jobs import JobService
from bot.links import MediaLinks
from bot.models import GenerationRequest, Job, JobState, Origin
from bot.scheduler import Scheduler
from bot.settings import Settings
from bot.web import build_web_app
from storage.sqlite import SqliteStore
from tests.fakes._base import sample_mp4
from tests.fakes.gateway import API_KEY
from tests.fakes.slack import FakeSlack

VIDEO_BYTES = 5 * 1024 * 1024
WEBHOOK_RUNS = 20
POLL_RUNS = 8
FLOOR_RUNS = 20
POLL_INTERVAL_S = 1.0
SECRET = "bench-webhook-secret"
CHANNEL = "C1"


@dataclass
class Rig:
    gateway: HeldGateway
    slack: FakeSlack
    service: JobService
    store: SqliteStore
    base: str
    results: dict[str, list[float]] = field(default_factory=dict)


@asynccontextmanager
async def _rig(folder: Path, video: bytes, poll_interval_s: float) -> AsyncIterator[Rig]:
    async with AsyncExitStack() as stack:
        gateway = HeldGateway(video=video)
        await gateway.start()
        stack.push_async_callback(gateway.close)
        slack = await stack.enter_async_context(FakeSlack())
        settings = Settings(
            _env_file=None,
            slack_bot_token=slack.bot_token,
            slack_signing_secret=slack.signing_secret,
            slack_api_url=slack.api_url,
        )
        surface = create_adapter(settings).surface
        links = MediaLinks(None, SECRET, SystemClock())
        provider = GatewayProvider(gateway.base_url, API_KEY, links)
        stack.push_async_callback(provider.aclose)
        store = await SqliteStore.open(folder / f"e2e-{poll_interval_s:g}.db")
        stack.push_async_callback(store.close)
        runner: web.AppRunner | None = None
        # The public URL is the web server's own address, known once it listens.
        service = make_service(
            store,
            folder / "downloads",
            providers={"gateway": provider},
            surfaces={"slack": surface},
            default_provider="gateway",
            poll_interval_s=poll_interval_s,
            public_url="http://placeholder",
            webhook_secret=SECRET,
        )
        runner = web.AppRunner(build_web_app(store, links, service=service), handle_signals=False)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        scheduler = Scheduler(service)
        await scheduler.start()
        stack.push_async_callback(scheduler.stop)
        yield Rig(gateway, slack, service, store, base)


async def _at_provider(rig: Rig, states: tuple[JobState, ...]) -> Job:
    job = await rig.service.submit(
        GenerationRequest(prompt="harbour at dawn", model="veo-3.1-fast-generate-preview"),
        Origin(platform="slack", workspace_id="T1", channel_id=CHANNEL, user_id="U1"),
    )
    found: list[Job] = []

    async def there() -> bool:
        current = await rig.store.get_job(job.id)
        if current is not None and current.state in states:
            found.append(current)
            return True
        return False

    await wait_until(there, timeout_s=30, step_s=0.005)
    return found[0]


async def _posted(rig: Rig, job: Job) -> float:
    """Wait until the job's MP4 is in its thread; the moment it was seen there."""
    name = f"veo-{job.id}.mp4"
    await rig.slack.wait_for(
        lambda: any(f.name == name for m in rig.slack.messages for f in m.files), timeout_s=60
    )
    return time.perf_counter()


async def _webhook_run(rig: Rig, client: httpx.AsyncClient) -> float:
    job = await _at_provider(rig, (JobState.SUBMITTED, JobState.RUNNING))
    assert job.provider_job_id is not None
    url = rig.service.callback_url(job)
    assert url is not None
    url = url.replace("http://placeholder", rig.base)
    start = time.perf_counter()
    rig.gateway.finish(job.provider_job_id)
    response = await client.post(url, json={"task_id": job.provider_job_id, "status": "done"})
    assert response.status_code == 200, response.text
    end = await _posted(rig, job)
    await rig.service.wait_until_done(job.id)
    return end - start


async def _poll_run(rig: Rig, rng: random.Random) -> tuple[float, float]:
    """(done -> posted, the poll that saw it -> posted)."""
    job = await _at_provider(rig, (JobState.RUNNING,))
    assert job.provider_job_id is not None
    await asyncio.sleep(rng.uniform(0, POLL_INTERVAL_S))
    start = time.perf_counter()
    rig.gateway.finish(job.provider_job_id)
    end = await _posted(rig, job)
    await rig.service.wait_until_done(job.id)
    seen = rig.gateway.done_seen[job.provider_job_id]
    return end - start, end - seen


async def _floor_run(rig: Rig, client: httpx.AsyncClient, thread_ts: str) -> float:
    """The same HTTP calls, bare: status, download, upload v2 into the thread."""
    created = await client.post(
        f"{rig.gateway.base_url}/v1/video/generations",
        headers={"Authorization": f"Bearer {API_KEY}"},
        json={"model": "veo-3.1-fast-generate-preview", "prompt": "p", "aspect_ratio": "16:9"},
    )
    task_id = created.json()["id"]
    rig.gateway.finish(task_id)
    auth = {"Authorization": f"Bearer {API_KEY}"}
    slack_auth = {"Authorization": f"Bearer {rig.slack.bot_token}"}
    start = time.perf_counter()
    status = await client.get(
        f"{rig.gateway.base_url}/v1/video/generations/{task_id}", headers=auth
    )
    video = bytearray()
    async with client.stream("GET", status.json()["url"], headers=auth) as response:
        async for chunk in response.aiter_bytes():
            video += chunk
    name = f"floor-{task_id}.mp4"
    asked = await client.post(
        f"{rig.slack.api_url}files.getUploadURLExternal",
        headers=slack_auth,
        data={"filename": name, "length": str(len(video))},
    )
    ticket = asked.json()
    await client.post(ticket["upload_url"], content=bytes(video))
    done = await client.post(
        f"{rig.slack.api_url}files.completeUploadExternal",
        headers=slack_auth,
        data={
            "files": json.dumps([{"id": ticket["file_id"], "title": name}]),
            "channel_id": CHANNEL,
            "thread_ts": thread_ts,
        },
    )
    assert done.json()["ok"], done.text
    return time.perf_counter() - start


async def _measure() -> dict[str, list[float]]:
    rng = random.Random(11)
    video = sample_mp4() + os.urandom(VIDEO_BYTES - len(sample_mp4()))
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        async with (
            _rig(Path(folder), video, poll_interval_s=3600) as rig,
            httpx.AsyncClient(timeout=60) as client,
        ):
            root = await client.post(
                f"{rig.slack.api_url}chat.postMessage",
                headers={"Authorization": f"Bearer {rig.slack.bot_token}"},
                data={"channel": CHANNEL, "text": "floor"},
            )
            thread_ts = root.json()["ts"]
            for _ in range(2):  # warm both paths up: connections, caches, first imports
                await _webhook_run(rig, client)
                await _floor_run(rig, client, thread_ts)
            results["webhook"], results["floor"] = [], []
            for _ in range(max(WEBHOOK_RUNS, FLOOR_RUNS)):
                results["webhook"].append(await _webhook_run(rig, client))
                results["floor"].append(await _floor_run(rig, client, thread_ts))
        async with _rig(Path(folder), video, poll_interval_s=POLL_INTERVAL_S) as rig:
            await _poll_run(rig, rng)
            runs = [await _poll_run(rig, rng) for _ in range(POLL_RUNS)]
            results["poll"] = [total for total, _ in runs]
            results["poll_after_seen"] = [after for _, after in runs]
    return results


def run() -> list[tuple[str, str, str]]:
    quiet_logs()
    results = asyncio.run(_measure())
    floor = percentile(results["floor"], 50)
    webhook = percentile(results["webhook"], 50)
    poll = percentile(results["poll"], 50)
    after = percentile(results["poll_after_seen"], 50)
    return [
        (
            "e2e floor: bare httpx, same calls (5 MB)",
            f"p50 {ms(floor)} (status, download, 3 upload v2 calls)",
            "-",
        ),
        (
            "e2e webhook: done -> MP4 in thread",
            f"p50 {ms(webhook)}, p90 {ms(percentile(results['webhook'], 90))}: "
            f"overhead {ms(webhook - floor)}, {webhook / floor:.1f}x floor",
            "overhead p50 < 50 ms",
        ),
        (
            f"e2e poll ({POLL_INTERVAL_S:g} s): done -> MP4 in thread",
            f"p50 {ms(poll)}; from the poll that saw it {ms(after)}: overhead {ms(after - floor)}",
            f"<= interval + webhook overhead ({ms(POLL_INTERVAL_S + webhook - floor)})",
        ),
    ]


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))
