"""The bot process killed with SIGKILL at each state and started again: every job ends
delivered exactly once, or failed and refunded. A real `veo-bot try` process, a real fake
provider, a real database."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path

import pytest

from tests.fakes._base import Fault
from tests.fakes.gemini import API_KEY, GeminiFake
from tests.support import VEO_BOT, cli_env, eventually, run_cli

SUBMIT = "/v1beta/models/*:predictLongRunning"
DOWNLOAD = "/v1beta/files/*"


def row(tmp_path: Path) -> tuple[str, int] | None:
    """(state, submit attempts) of the one job, read as another process would."""
    if not (tmp_path / "veo.db").exists():
        return None
    with sqlite3.connect(tmp_path / "veo.db") as db:
        try:
            found = db.execute("SELECT state, submit_attempts FROM jobs").fetchone()
        except sqlite3.OperationalError:
            return None  # not migrated yet
    return (str(found[0]), int(found[1])) if found else None


def ledger(tmp_path: Path) -> list[str]:
    with sqlite3.connect(tmp_path / "veo.db") as db:
        return [r[0] for r in db.execute("SELECT status FROM quota_ledger")]


async def kill_when(
    tmp_path: Path, fake: GeminiFake, state: str, prompt: str, *, after: str | None = None
) -> None:
    """Start `veo-bot try`, SIGKILL it once the job is in `state` (and, with `after`, once
    the fake has received that request)."""
    env = cli_env(GEMINI_API_KEY=API_KEY, GEMINI_BASE_URL=fake.base_url)
    process = await asyncio.create_subprocess_exec(
        str(VEO_BOT),
        "try",
        prompt,
        "--provider",
        "gemini",
        "--duration",
        "4",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )

    async def reached() -> bool | None:
        current = await asyncio.to_thread(row, tmp_path)
        seen = after is None or bool(fake.received("POST", after))
        return True if current and current[0] == state and current[1] > 0 and seen else None

    try:
        await eventually(reached, timeout_s=30, step_s=0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()


async def resume(tmp_path: Path, fake: GeminiFake) -> tuple[int, list[Path]]:
    result = await asyncio.to_thread(
        run_cli, tmp_path, "resume", GEMINI_API_KEY=API_KEY, GEMINI_BASE_URL=fake.base_url
    )
    return result.returncode, sorted((tmp_path / "out").glob("*.mp4"))


async def test_killed_while_submitting_the_job_fails_and_is_refunded(tmp_path: Path) -> None:
    async with GeminiFake(job_duration_s=0.2) as fake:
        assert isinstance(fake, GeminiFake)
        # The submit reaches Google, which has not answered when the process dies.
        fake.inject(Fault(SUBMIT, passthrough=True, delay_s=3))
        await kill_when(tmp_path, fake, "pending", "lanterns", after=SUBMIT)
        fake.faults.clear()
        code, videos = await resume(tmp_path, fake)
    # Google may have started it; a second submit could bill twice: stop and refund.
    assert (code, videos) == (1, [])
    assert row(tmp_path) == ("failed", 1)
    assert ledger(tmp_path) == ["refunded"]
    assert len(fake.received("POST", SUBMIT)) == 1


@pytest.mark.parametrize(("state", "fault"), [("running", None), ("delivering", DOWNLOAD)])
async def test_killed_at_the_provider_or_mid_download_delivers_once(
    tmp_path: Path, state: str, fault: str | None
) -> None:
    async with GeminiFake(job_duration_s=1.5) as fake:
        assert isinstance(fake, GeminiFake)
        if fault:
            fake.inject(Fault(fault, method="GET", passthrough=True, delay_s=3))
        await kill_when(tmp_path, fake, state, "lanterns")
        fake.faults.clear()
        code, videos = await resume(tmp_path, fake)
        assert code == 0
        assert [v.read_bytes() for v in videos] == [fake.video]
    assert row(tmp_path) == ("delivered", 1)
    assert ledger(tmp_path) == ["settled"]
    assert len(fake.received("POST", SUBMIT)) == 1
