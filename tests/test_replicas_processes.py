"""Several real `veo-bot` processes on one database (SQLite and PostgreSQL): each `veo-bot
try` finishes its own job and nobody else's, `veo-bot resume` adopts a job only once its
process is gone, and a `veo-bot run` replica killed mid-step on PostgreSQL loses its lease to
another replica, which finishes the step: the video posted exactly once."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg

from storage import is_postgres, sqlite_path
from tests.bot_process import veo_bot_run
from tests.fakes.slack import FakeSlack
from tests.support import VEO_BOT, cli_env, eventually, run_cli
from tests.test_kill import slack_env, videos_in

TRIES = 8


async def rows(database_url: str, query: str) -> list[dict[str, Any]]:
    """The rows of `query`, read as another process would."""
    if is_postgres(database_url):
        db = await asyncpg.connect(database_url)
        try:
            return [dict(row) for row in await db.fetch(query)]
        finally:
            await db.close()
    path = Path(sqlite_path(database_url))

    def read() -> list[dict[str, Any]]:
        if not path.exists():
            return []
        with sqlite3.connect(path) as db:
            db.row_factory = sqlite3.Row
            try:
                return [dict(row) for row in db.execute(query)]
            except sqlite3.OperationalError:
                return []  # not migrated yet

    return await asyncio.to_thread(read)


async def start_try(
    tmp_path: Path, database_url: str, index: int, *extra: str, data: str | None = None
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        str(VEO_BOT),
        *("try", f"lighthouse number {index}", "--user", f"u{index}"),
        *("--out", f"out-{index}"),
        *(extra or ("--model", "local-draft", "--duration", "2")),
        cwd=tmp_path,
        env=cli_env(VEO_DATABASE_URL=database_url, VEO_DATA_DIR=data or f"data-{index}"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_eight_try_processes_on_one_database_each_finish_their_own_video(
    tmp_path: Path, database_url: str
) -> None:
    # The schema first, as a deploy step would: then the processes race only for the jobs.
    assert run_cli(tmp_path, "migrate", VEO_DATABASE_URL=database_url).returncode == 0
    processes = [await start_try(tmp_path, database_url, i) for i in range(TRIES)]
    async with asyncio.timeout(240):
        results = [await process.communicate() for process in processes]
    for index, (process, (out, err)) in enumerate(zip(processes, results, strict=True)):
        text = err.decode()
        assert process.returncode == 0, text
        assert "Something went wrong" not in text and "FileNotFoundError" not in text
        video = Path(out.decode().strip().splitlines()[-1])
        assert video.parent == (tmp_path / f"out-{index}").resolve()
        assert (await asyncio.to_thread(video.read_bytes))[4:8] == b"ftyp"
    jobs = await rows(database_url, "SELECT state, owner FROM jobs")
    assert [job["state"] for job in jobs] == ["delivered"] * TRIES
    assert len({job["owner"] for job in jobs}) == TRIES  # each process owned its own


async def test_resume_adopts_a_try_job_only_once_its_process_is_gone(
    tmp_path: Path, database_url: str
) -> None:
    assert run_cli(tmp_path, "migrate", VEO_DATABASE_URL=database_url).returncode == 0
    # A long render, so that the process is surely still at it when resume asks.
    making = await start_try(
        tmp_path, database_url, 0, "--model", "local-preview", "--duration", "10"
    )

    async def started() -> str | None:
        found = await rows(database_url, "SELECT id FROM jobs WHERE provider_job_id IS NOT NULL")
        return str(found[0]["id"]) if found else None

    try:
        job_id = await eventually(started, timeout_s=60, step_s=0.05)
        # Its process lives: the job stays with it.
        busy = await asyncio.to_thread(
            run_cli, tmp_path, "resume", job_id, VEO_DATABASE_URL=database_url
        )
        assert busy.returncode == 3, busy.stderr
        assert f"job {job_id} is being made by another running `veo-bot try`" in busy.stderr
        everything = await asyncio.to_thread(
            run_cli, tmp_path, "resume", VEO_DATABASE_URL=database_url
        )
        assert everything.returncode == 0 and "stays with that process" in everything.stderr
    finally:
        making.send_signal(signal.SIGKILL)
        await making.communicate()
    [held] = await rows(database_url, "SELECT state, owner FROM jobs")
    assert held["state"] not in ("delivered", "failed")

    # Gone: resume adopts it, here with a disk of its own (the render is in the database).
    adopted = await asyncio.to_thread(
        run_cli, tmp_path, "resume", job_id, VEO_DATABASE_URL=database_url, VEO_DATA_DIR="other"
    )
    assert adopted.returncode == 0, adopted.stderr
    video = Path(adopted.stdout.strip().splitlines()[-1])
    assert video.parent == (tmp_path / "out-0").resolve()
    assert (await asyncio.to_thread(video.read_bytes))[4:8] == b"ftyp"
    [done] = await rows(database_url, "SELECT state, owner FROM jobs")
    assert done["state"] == "delivered" and done["owner"] != held["owner"]
    unknown = await asyncio.to_thread(
        run_cli, tmp_path, "resume", "nosuchjob", VEO_DATABASE_URL=database_url
    )
    assert (unknown.returncode, unknown.stderr.strip()) == (
        2,
        "veo-bot: There is no `veo-bot try` job nosuchjob.",
    )


async def test_a_replica_killed_mid_step_on_postgres_is_finished_by_another_exactly_once(
    tmp_path: Path, postgres_url: str
) -> None:
    env = {"VEO_DATABASE_URL": postgres_url}
    async with FakeSlack() as fake:
        # The first replica takes a /veo and dies while Slack holds the answer to its upload
        # (Slack has shared the video; the replica never hears back): mid-step, leased.
        hold = fake.hold("files.completeUploadExternal")
        async with veo_bot_run(tmp_path, **slack_env(fake), **env, VEO_DATA_DIR="data-a") as first:
            reply = await fake.send_command(
                f"http://127.0.0.1:{first.port}/slack/events", fake.command_payload("lanterns")
            )
            assert reply.status == 200
            async with asyncio.timeout(60):
                await hold.reached.wait()
            first.process.send_signal(signal.SIGKILL)
            await first.process.wait()
        hold.release()
        [held] = await rows(postgres_url, "SELECT id, state, leased_by, due_at FROM jobs")
        assert held["state"] == "delivering" and held["leased_by"]

        # Another replica (a disk of its own) takes the dead one's lease and finishes the step.
        async with veo_bot_run(tmp_path, **slack_env(fake), **env, VEO_DATA_DIR="data-b") as second:

            async def delivered() -> dict[str, Any] | None:
                [job] = await rows(postgres_url, "SELECT state, leased_by FROM jobs")
                assert job["state"] not in ("failed", "timed_out", "cancelled"), second.output
                return job if job["state"] == "delivered" else None

            done = await eventually(delivered, timeout_s=60, step_s=0.05)
        assert done["leased_by"] != held["leased_by"]
        assert videos_in(fake) == [f"veo-{held['id']}.mp4"]  # found, not posted again
        assert len(fake.calls_to("files.completeUploadExternal")) == 1
    ledger = await rows(postgres_url, "SELECT status FROM quota_ledger")
    assert [row["status"] for row in ledger] == ["settled"]
