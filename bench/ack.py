"""Time to acknowledge `/veo`: 200 commands at once while 1,000 jobs are in flight and being
polled, on Slack (signed HTTP requests to POST /slack/events, the HTTP answer is the ack) and
on Discord (INTERACTION_CREATE over the gateway, the first interaction callback is the ack).

The bot (core, store, scheduler, adapter, web server) runs in a fresh process of its own; the
fake platform and the load it sends run in another, so neither's CPU lands in the other's
figures. The 1,000 jobs are made through `JobService.submit` against a provider whose jobs stay
RUNNING, with the production poll interval (10 s) and scheduler defaults; the burst is fired as
the first wave of their polls begins, each poll also editing its job's status card."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from adapters.discord import create_adapter as discord_adapter
from adapters.slack import EVENTS_PATH
from adapters.slack import create_adapter as slack_adapter
from bench._harness import (
    Side,
    count_in,
    in_child,
    make_service,
    ms,
    percentile,
    recv,
    wait_until,
)
from bot.app import ChatAdapter
from bot.clock import SystemClock
from bot.links import MediaLinks
from bot.models import (
    GenerationRequest,
    JobState,
    Origin,
    ProviderJobState,
    ProviderStatus,
)
from bot.scheduler import Scheduler
from bot.settings import Settings
from bot.web import build_web_app
from storage.sqlite import SqliteStore
from tests.fakes.discord import FakeDiscord
from tests.fakes.slack import FakeSlack
from tests.support import ScriptedProvider

IN_FLIGHT = 1_000
BURST = 200
POLL_INTERVAL_S = 10.0
TARGET = "p99 < 250 ms"
RUNNING = ProviderStatus(ProviderJobState.RUNNING, progress=50)
AT_PROVIDER = (JobState.SUBMITTED, JobState.RUNNING)


# --- the platforms' side (another process) ---------------------------------------------------


async def _slack_side(conn: Connection) -> None:
    async with FakeSlack() as fake:
        conn.send(
            {
                "api_url": fake.api_url,
                "bot_token": fake.bot_token,
                "signing_secret": fake.signing_secret,
                "team_id": fake.team_id,
            }
        )
        while (message := await recv(conn))["op"] != "stop":
            conn.send(await _slack_burst(fake, message["url"], message["count"]))


async def _slack_burst(fake: FakeSlack, url: str, count: int) -> dict[str, Any]:
    """`count` signed `/veo` commands at once, each timed from send to Slack's answer."""
    requests = []
    for i in range(count):
        body = urlencode(fake.command_payload(f"burst {i}: a fox runs", user=f"UB{i:03d}"))
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": fake.signature(body, stamp),
        }
        requests.append((body.encode(), headers))
    # Slack opens as many connections as it needs; no client-side queue in the figures.
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(body: bytes, headers: dict[str, str]) -> tuple[float, int]:
            start = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                return time.perf_counter() - start, response.status

        answers = await asyncio.gather(*(one(body, headers) for body, headers in requests))
    return {
        "acks": [seconds for seconds, _ in answers],
        "ok": sum(1 for _, status in answers if status == 200),
    }


async def _discord_side(conn: Connection) -> None:
    async with FakeDiscord() as fake:
        conn.send(
            {
                "token": fake.token,
                "api_base": fake.api_base,
                "gateway_url": fake.gateway_url,
                "guild_id": fake.guild_id,
                "channel_id": fake.channel_id,
                "user_id": fake.owner.id,
            }
        )
        while (message := await recv(conn))["op"] != "stop":
            if message["op"] == "wait_ready":
                await fake.wait_ready(timeout_s=30)
                conn.send({"ready": True})
            elif message["op"] == "burst":
                conn.send(await _discord_burst(fake, message["count"]))


async def _discord_burst(fake: FakeDiscord, count: int) -> dict[str, Any]:
    """`count` people run `/veo` at once; the fake times each interaction's first callback."""
    interactions = await asyncio.gather(
        *(fake.slash("veo", {"prompt": f"burst {i}: a fox runs"}) for i in range(count))
    )
    await fake.wait_for(
        lambda: all(i.acked_after_s is not None for i in interactions), timeout_s=60
    )
    return {
        "acks": [i.acked_after_s for i in interactions if i.acked_after_s is not None],
        "ok": sum(1 for i in interactions if i.callback_type == 5),
    }


# --- the bot's side (a fresh process) --------------------------------------------------------


async def _in_flight(service: Any, store: SqliteStore, origins: list[Origin]) -> float:
    """Submit IN_FLIGHT jobs and wait until every one is at the provider; the seconds it took."""
    start = time.perf_counter()
    request = GenerationRequest(prompt="a lighthouse at dusk", duration_s=8)
    await asyncio.gather(
        *(service.submit(request, origins[i % len(origins)]) for i in range(IN_FLIGHT))
    )

    async def all_at_provider() -> bool:
        return await count_in(store, AT_PROVIDER) >= IN_FLIGHT

    await wait_until(all_at_provider, timeout_s=180, step_s=0.2)
    return time.perf_counter() - start


async def _bot(conn: Connection, platform: str) -> None:
    side = Side(_slack_side if platform == "slack" else _discord_side)
    try:
        info = await side.recv()
        with tempfile.TemporaryDirectory() as folder:
            conn.send(await _serve_and_burst(side, info, platform, Path(folder)))
    except Exception as exc:
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        side.send({"op": "stop"})
        side.close()


async def _serve_and_burst(
    side: Side, info: dict[str, Any], platform: str, folder: Path
) -> dict[str, Any]:
    adapter: ChatAdapter
    if platform == "slack":
        settings = Settings(
            _env_file=None,
            slack_bot_token=info["bot_token"],
            slack_signing_secret=info["signing_secret"],
            slack_api_url=info["api_url"],
        )
        adapter = slack_adapter(settings)
        origins = [
            Origin(
                platform="slack",
                workspace_id=info["team_id"],
                channel_id=f"C{i % 10}",
                user_id=f"U{i:03d}",
            )
            for i in range(100)
        ]
    else:
        settings = Settings(
            _env_file=None,
            discord_token=info["token"],
            discord_api_base=info["api_base"],
            discord_gateway_url=info["gateway_url"],
        )
        adapter = discord_adapter(settings)
        origins = [
            Origin(
                platform="discord",
                workspace_id=str(info["guild_id"]),
                channel_id=str(info["channel_id"]),
                user_id=str(info["user_id"]),
            )
        ]
    store = await SqliteStore.open(folder / "bench.db")
    provider = ScriptedProvider([RUNNING])
    service = make_service(
        store,
        folder / "downloads",
        providers={"scripted": provider},
        surfaces={platform: adapter.surface},
        default_provider="scripted",
        poll_interval_s=POLL_INTERVAL_S,
    )
    app = build_web_app(store, MediaLinks(None, "secret", SystemClock()), service=service)
    adapter.mount(app)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    scheduler = Scheduler(service)
    try:
        await site.start()
        await scheduler.start()
        await adapter.start(service)
        if platform == "discord":
            side.send({"op": "wait_ready"})
            await side.recv(60)
        setup_s = await _in_flight(service, store, origins)

        async def polls_began() -> bool:
            return await count_in(store, (JobState.RUNNING,)) > 0

        await wait_until(polls_began, timeout_s=POLL_INTERVAL_S * 3)
        polls_before = sum(job.polls for job in provider.jobs.values())
        if platform == "slack":
            port = runner.addresses[0][1]
            side.send(
                {"op": "burst", "url": f"http://127.0.0.1:{port}{EVENTS_PATH}", "count": BURST}
            )
        else:
            side.send({"op": "burst", "count": BURST})
        burst = await side.recv(120)
        polls_during = sum(job.polls for job in provider.jobs.values()) - polls_before

        async def all_accepted() -> bool:
            return sum((await store.count_by_state()).values()) >= IN_FLIGHT + BURST

        accepted = True
        try:
            await wait_until(all_accepted, timeout_s=60, step_s=0.1)
        except TimeoutError:
            accepted = False
        total = sum((await store.count_by_state()).values())
        return {
            "acks": burst["acks"],
            "ok": burst["ok"],
            "jobs": total - IN_FLIGHT,
            "accepted": accepted,
            "setup_s": setup_s,
            "polls_during": polls_during,
        }
    finally:
        # The scheduler first: a step still running would find the adapter's session closed.
        await scheduler.stop()
        await adapter.close()
        await runner.cleanup()
        await provider.aclose()
        await store.close()


async def _slack_bot(conn: Connection) -> None:
    await _bot(conn, "slack")


async def _discord_bot(conn: Connection) -> None:
    await _bot(conn, "discord")


def run() -> list[tuple[str, str, str]]:
    rows = []
    for label, main in (("Slack", _slack_bot), ("Discord", _discord_bot)):
        name = f"ack /veo, {label}: {BURST} at once, {IN_FLIGHT:,} in flight"
        result = in_child(main, timeout_s=400)
        if "error" in result:
            rows.append((name, f"did not run: {result['error']}"[:120], TARGET))
            continue
        acks = result["acks"]
        rows.append(
            (
                name,
                f"p50 {ms(percentile(acks, 50))}, p99 {ms(percentile(acks, 99))}, "
                f"max {ms(max(acks))} ({result['ok']}/{BURST} acked)",
                TARGET,
            )
        )
        rows.append(
            (
                f"  ... {label}: jobs made from the burst",
                f"{result['jobs']}/{BURST} (set-up of the 1,000: {result['setup_s']:.0f} s; "
                f"{result['polls_during']} polls ran during the burst)",
                f"{BURST}/{BURST}",
            )
        )
    return rows


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))
