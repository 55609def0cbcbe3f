"""`veo-bot run` as operators run it, with SLACK_* pointing at the fake Slack: a real process,
the local provider, HTTP events on its own port or Socket Mode, and a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.slack import FakeSlack
from tests.support import _OUR_PREFIXES, VEO_BOT


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class BotProcess:
    process: asyncio.subprocess.Process
    port: int
    log: list[str] = field(default_factory=list)
    # Set once the process says it serves, or once its log ends (it died first).
    ready_or_gone: asyncio.Event = field(default_factory=asyncio.Event)

    async def read_log(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            self.log.append(raw.decode(errors="replace"))
            if "veo-bot serving on" in self.log[-1]:
                self.ready_or_gone.set()
        self.ready_or_gone.set()

    @property
    def output(self) -> str:
        return "".join(self.log)


@contextlib.asynccontextmanager
async def veo_bot_run(tmp_path: Path, **env: str) -> AsyncIterator[BotProcess]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(_OUR_PREFIXES)}
    port = free_port()
    environ |= {
        "VEO_DATABASE_URL": "sqlite:///veo.db",
        "VEO_DATA_DIR": "data",
        "VEO_HTTP_HOST": "127.0.0.1",
        "VEO_HTTP_PORT": str(port),
        "VEO_MODEL": "local-draft",
        **env,
    }
    process = await asyncio.create_subprocess_exec(
        str(VEO_BOT), "run", cwd=tmp_path, env=environ, stderr=asyncio.subprocess.PIPE
    )
    bot = BotProcess(process, port)
    reader = asyncio.create_task(bot.read_log())
    try:
        async with asyncio.timeout(30):
            await bot.ready_or_gone.wait()
        assert "veo-bot serving on" in bot.output, bot.output
        yield bot
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            await process.wait()
            await reader


@pytest.mark.parametrize("socket_mode", [False, True], ids=["http events", "socket mode"])
async def test_veo_bot_run_answers_slash_commands_and_stops_on_sigterm(
    tmp_path: Path, socket_mode: bool
) -> None:
    async with FakeSlack() as fake:
        secrets = {"SLACK_BOT_TOKEN": fake.bot_token, "SLACK_SIGNING_SECRET": fake.signing_secret}
        if socket_mode:
            secrets["SLACK_APP_TOKEN"] = fake.app_token
        # People write the URL with or without the trailing slash; both must work.
        api_url = fake.api_url if socket_mode else fake.api_url.rstrip("/")
        async with veo_bot_run(tmp_path, SLACK_API_URL=api_url, **secrets) as bot:
            base = f"http://127.0.0.1:{bot.port}"
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"{base}/healthz") as health,
            ):
                assert health.status == 200 and (await health.json())["slack"] == "ok"

            command = fake.command_payload("a lighthouse at dawn")
            if socket_mode:
                await fake.socket_ack(await fake.push("slash_commands", command))
            else:
                reply = await fake.send_command(f"{base}/slack/events", command)
                assert (reply.status, reply.body) == (200, "")

            [card] = await fake.wait_for(lambda: fake.channel("C1"), timeout_s=30)
            [video] = await fake.wait_for(lambda: fake.videos("C1", card.ts), timeout_s=30)
            assert video.data[4:8] == b"ftyp" and len(video.data) > 1000
            assert "local-draft" in card.all_text

        assert bot.process.returncode == 0, bot.output
        assert "shutting down" in bot.output
        for secret in secrets.values():
            assert secret not in bot.output
