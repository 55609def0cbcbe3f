"""veo-bot as operators run it: `veo-bot run` in a real process on a port of its own, its log
read until it serves, and a clean stop on SIGTERM when the test is done."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import _OUR_PREFIXES, VEO_BOT


def free_port() -> int:
    """A TCP port nobody listens on now, for a process that binds it itself."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class BotProcess:
    """A running `veo-bot run`: its process, its port and what it logged."""

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
    """`veo-bot run` in `tmp_path` with the local provider and `env`, until it serves; stopped
    with SIGTERM afterwards."""
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
