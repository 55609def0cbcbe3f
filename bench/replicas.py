"""Jobs per second and the ack time of `/veo` with 1 and 3 `veo-bot run` replicas on one
PostgreSQL database: real processes, Slack's signed commands spread over the replicas as a
load balancer would, the gateway provider's fake (jobs done in half a second), fast poll
intervals. Jobs per second: the jobs over the time from the first command to the last video
posted. The fakes run in this process, the replicas in their own.

Needs PostgreSQL (VEO_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test);
each run uses a schema of its own, dropped afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg

from adapters.providers import default_catalog
from bench._harness import ms, percentile, quiet_logs
from tests.bot_process import BotProcess, veo_bot_run
from tests.fakes import gateway
from tests.fakes.slack import FakeSlack
from tests.support import run_cli

POSTGRES_URL = os.environ.get("VEO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
JOBS = int(os.environ.get("BENCH_REPLICA_JOBS", "300"))
AT_ONCE = 32
TARGET = "3 replicas >= 1 replica jobs/s; ack p99 < 250 ms"


@contextlib.asynccontextmanager
async def _schema() -> AsyncIterator[str]:
    schema = f"veo_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(POSTGRES_URL, timeout=5)
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
        sep = "&" if "?" in POSTGRES_URL else "?"
        yield f"{POSTGRES_URL}{sep}search_path={schema}"
    finally:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close()


async def _delivered(url: str) -> int:
    db = await asyncpg.connect(url)
    try:
        return int(await db.fetchval("SELECT count(*) FROM jobs WHERE state = 'delivered'"))
    finally:
        await db.close()


async def _measure(replicas: int) -> dict[str, float]:
    spec = default_catalog().default_model("gateway")
    async with (
        _schema() as url,
        FakeSlack() as slack,
        gateway.GatewayFake(job_duration_s=0.5) as provider,
    ):
        env = {
            "VEO_DATABASE_URL": url,
            "VEO_PROVIDER": "gateway",
            "VEO_MODEL": spec.id,
            "GATEWAY_API_KEY": gateway.API_KEY,
            "GATEWAY_BASE_URL": provider.base_url,
            "SLACK_API_URL": slack.api_url,
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": slack.signing_secret,
            "VEO_POLL_INTERVAL_S": "0.2",
            "VEO_USER_COMMANDS_PER_MINUTE": "0",
            "VEO_QUOTA_USER_DAILY_S": "1000000",
            "VEO_QUOTA_USER_CONCURRENT": "1000",
            "VEO_BUDGET_GATEWAY_SUBMIT": "100/s",
            "VEO_BUDGET_GATEWAY_STATUS": "500/s",
        }
        with tempfile.TemporaryDirectory() as folder:
            work = Path(folder)
            migrated = await asyncio.to_thread(run_cli, work, "migrate", VEO_DATABASE_URL=url)
            if migrated.returncode != 0:
                raise RuntimeError(migrated.stderr.strip())
            async with contextlib.AsyncExitStack() as stack:
                bots: list[BotProcess] = [
                    await stack.enter_async_context(
                        veo_bot_run(work, **env, VEO_DATA_DIR=f"data-{index}")
                    )
                    for index in range(replicas)
                ]
                acks: list[float] = []
                gate = asyncio.Semaphore(AT_ONCE)

                async def send(index: int) -> None:
                    bot = bots[index % len(bots)]
                    payload = slack.command_payload(f"bench {index}", user=f"U{index % 20}")
                    async with gate:
                        sent = time.perf_counter()
                        reply = await slack.send_command(
                            f"http://127.0.0.1:{bot.port}/slack/events", payload
                        )
                        acks.append(time.perf_counter() - sent)
                    if reply.status != 200:
                        raise RuntimeError(f"/veo answered {reply.status}")

                started = time.perf_counter()
                await asyncio.gather(*(send(i) for i in range(JOBS)))
                async with asyncio.timeout(300):
                    while await _delivered(url) < JOBS:  # noqa: ASYNC110 - rows have no event
                        await asyncio.sleep(0.05)
                elapsed = time.perf_counter() - started
    return {"jobs_s": JOBS / elapsed, "p50": percentile(acks, 50), "p99": percentile(acks, 99)}


def run() -> list[tuple[str, str, str]]:
    quiet_logs()
    rows = []
    for replicas in (1, 3):
        name = f"replicas on PostgreSQL: {replicas}, {JOBS} Slack jobs"
        try:
            got = asyncio.run(_measure(replicas))
        except Exception as exc:
            rows.append((name, f"did not run: {type(exc).__name__}: {exc}"[:120], TARGET))
            continue
        figure = f"{got['jobs_s']:.1f} jobs/s, ack p50 {ms(got['p50'])}, p99 {ms(got['p99'])}"
        rows.append((name, figure, TARGET))
    return rows


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))
