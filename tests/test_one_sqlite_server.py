"""SQLite serves one `veo-bot run` at a time: a second one on the same file refuses to start in
plain words (use PostgreSQL for several replicas), `veo-bot try` keeps working beside it, and a
server that stops, or is killed, leaves nothing behind that blocks the next. On PostgreSQL
replicas start side by side. Real processes, with Slack pointing at the fake."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import aiohttp

from tests.bot_process import veo_bot_run
from tests.fakes.slack import FakeSlack
from tests.support import VEO_BOT, cli_env, run_cli


def slack_env(fake: FakeSlack) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": fake.bot_token,
        "SLACK_SIGNING_SECRET": fake.signing_secret,
        "SLACK_API_URL": fake.api_url,
    }


async def veo(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_cli, tmp_path, *args, **env)


async def second_run(tmp_path: Path, fake: FakeSlack) -> tuple[int | None, str]:
    """Start another `veo-bot run` in the same folder: its exit code and what it said, or
    None when it is still running after a while (it serves: it was not refused)."""
    env = cli_env(VEO_HTTP_HOST="127.0.0.1", VEO_HTTP_PORT="0", **slack_env(fake))
    process = await asyncio.create_subprocess_exec(
        str(VEO_BOT), "run", cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with asyncio.timeout(20):
            _, err = await process.communicate()
    except TimeoutError:
        process.kill()
        _, err = await process.communicate()
        return None, err.decode()
    return process.returncode, err.decode()


async def healthy(port: int) -> bool:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/healthz") as answer,
    ):
        return answer.status == 200


async def test_a_second_run_on_one_sqlite_file_refuses_to_start_and_try_still_works(
    tmp_path: Path,
) -> None:
    async with FakeSlack() as fake, veo_bot_run(tmp_path, **slack_env(fake)) as first:
        code, said = await second_run(tmp_path, fake)
        assert code == 4, said
        [line] = [ln for ln in said.splitlines() if ln.startswith("veo-bot: ")]
        assert line == (
            f"veo-bot: another `veo-bot run` (process {first.process.pid}) already serves the "
            f"SQLite database veo.db, and SQLite serves one bot process at a time. To run "
            "several replicas, use PostgreSQL: VEO_DATABASE_URL=postgresql://user@host:5432/db"
        )
        assert "serving on" not in said

        made = await veo(tmp_path, "try", "a heron", "--model", "local-draft", "--duration", "2")
        assert made.returncode == 0, made.stderr
        assert await healthy(first.port)


async def test_the_next_run_starts_once_the_first_has_stopped_or_died(tmp_path: Path) -> None:
    async with FakeSlack() as fake:
        async with veo_bot_run(tmp_path, **slack_env(fake)) as stopped:
            pass
        assert stopped.process.returncode == 0
        async with veo_bot_run(tmp_path, **slack_env(fake)) as killed:
            killed.process.send_signal(signal.SIGKILL)
            await killed.process.wait()
        async with veo_bot_run(tmp_path, **slack_env(fake)) as third:
            assert await healthy(third.port)


async def test_replicas_on_postgresql_start_side_by_side(tmp_path: Path, postgres_url: str) -> None:
    async with (
        FakeSlack() as fake,
        veo_bot_run(tmp_path, VEO_DATABASE_URL=postgres_url, **slack_env(fake)) as first,
        veo_bot_run(tmp_path, VEO_DATABASE_URL=postgres_url, **slack_env(fake)) as second,
    ):
        assert first.port != second.port
        assert await healthy(first.port) and await healthy(second.port)
