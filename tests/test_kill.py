"""The bot process killed with SIGKILL at each state and started again: every job ends
delivered exactly once, or failed and refunded. A real `veo-bot try` process, a real fake
provider, a real database."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
from pathlib import Path

import pytest

from tests.bot_process import veo_bot_run
from tests.fakes._base import Fault
from tests.fakes.gemini import API_KEY, GeminiFake
from tests.fakes.slack import FakeSlack
from tests.support import VEO_BOT, cli_env, eventually, run_cli

SUBMIT = "/v1beta/interactions"
OPERATION = "/v1beta/interactions/*"
DOWNLOAD = "/v1beta/files/*:download"


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
    tmp_path: Path,
    fake: GeminiFake,
    state: str,
    prompt: str,
    *,
    after: str | tuple[str, str] | None = None,
) -> None:
    """Start `veo-bot try`, SIGKILL it once the job is in `state` (and, with `after`, once
    the fake has received that request: a POST to a path, or (method, path))."""
    method, path = ("POST", after) if isinstance(after, str) else (after or ("", ""))
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
        seen = after is None or bool(fake.received(method, path))
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
    # With a file URI in the poll answer the download is a request of its own, held open here.
    async with GeminiFake(job_duration_s=1.5, get_returns_uri=fault is not None) as fake:
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


def job_row(tmp_path: Path) -> dict[str, object]:
    """The one job's row, every column, read as another process would."""
    with sqlite3.connect(tmp_path / "veo.db") as db:
        db.row_factory = sqlite3.Row
        [found] = db.execute("SELECT * FROM jobs").fetchall()
    return dict(found)


async def test_killed_between_submit_and_first_poll_answer_delivers_once(
    tmp_path: Path,
) -> None:
    async with GeminiFake(job_duration_s=0.2) as fake:
        assert isinstance(fake, GeminiFake)
        # The first status poll reaches Google and hangs: the job is `submitted` till then.
        fake.inject(Fault(OPERATION, method="GET", passthrough=True, delay_s=3))
        await kill_when(tmp_path, fake, "submitted", "lanterns", after=("GET", OPERATION))
        fake.faults.clear()
        code, videos = await resume(tmp_path, fake)
        assert code == 0
        assert [v.read_bytes() for v in videos] == [fake.video]
    assert row(tmp_path) == ("delivered", 1)
    assert ledger(tmp_path) == ["settled"]
    assert len(fake.received("POST", SUBMIT)) == 1


async def test_killed_while_succeeded_and_not_yet_delivering_delivers_once(
    tmp_path: Path,
) -> None:
    """`succeeded` lasts only between two commits, so the test holds the job there: a
    trigger in the database refuses the move to `delivering` (as a failing write would), the
    process keeps retrying, and is killed with the job in `succeeded`."""
    assert run_cli(tmp_path, "jobs").returncode == 0  # the database, migrated
    with sqlite3.connect(tmp_path / "veo.db") as db:
        db.execute(
            """CREATE TRIGGER hold_in_succeeded BEFORE UPDATE OF state ON jobs
               WHEN NEW.state = 'delivering'
               BEGIN SELECT RAISE(ABORT, 'held in succeeded by the test'); END"""
        )
    async with GeminiFake(job_duration_s=0.2) as fake:
        assert isinstance(fake, GeminiFake)
        await kill_when(tmp_path, fake, "succeeded", "lanterns")
        held = job_row(tmp_path)
        assert held["state"] == "succeeded" and held["delivery_refs_json"] is None
        with sqlite3.connect(tmp_path / "veo.db") as db:
            db.execute("DROP TRIGGER hold_in_succeeded")
        assert list((tmp_path / "out").glob("*.mp4")) == []
        code, videos = await resume(tmp_path, fake)
        assert code == 0
        assert [v.read_bytes() for v in videos] == [fake.video]
    assert row(tmp_path) == ("delivered", 1)
    assert ledger(tmp_path) == ["settled"]
    assert len(fake.received("POST", SUBMIT)) == 1


# --- `veo-bot run` against the fake Slack, killed with a Web API call in flight ----------


def slack_env(fake: FakeSlack) -> dict[str, str]:
    return {
        "SLACK_API_URL": fake.api_url,
        "SLACK_BOT_TOKEN": fake.bot_token,
        "SLACK_SIGNING_SECRET": fake.signing_secret,
        "VEO_POLL_INTERVAL_S": "0.05",
    }


def videos_in(fake: FakeSlack, channel: str = "C1") -> list[str]:
    """Names of every video the bot shared in the channel, threads included."""
    return [f.name for m in fake.bot_messages(channel) for f in m.files if not f.deleted]


async def kill_with_call_in_flight(tmp_path: Path, fake: FakeSlack, method: str) -> None:
    """`veo-bot run` takes a /veo command and is SIGKILLed while Slack holds the answer to
    its first `method` call (Slack has done the work; the bot never hears back)."""
    hold = fake.hold(method)
    async with veo_bot_run(tmp_path, **slack_env(fake)) as bot:
        reply = await fake.send_command(
            f"http://127.0.0.1:{bot.port}/slack/events", fake.command_payload("lanterns")
        )
        assert reply.status == 200
        async with asyncio.timeout(30):
            await hold.reached.wait()
        bot.process.send_signal(signal.SIGKILL)
        await bot.process.wait()
    hold.release()


async def restart_until_delivered(tmp_path: Path, fake: FakeSlack) -> None:
    async with veo_bot_run(tmp_path, **slack_env(fake)) as bot:

        async def delivered() -> bool | None:
            state = (await asyncio.to_thread(job_row, tmp_path))["state"]
            assert state not in ("failed", "timed_out", "cancelled"), bot.output
            return True if state == "delivered" else None

        await eventually(delivered, timeout_s=30, step_s=0.02)
    assert bot.process.returncode == 0, bot.output


async def test_killed_while_pending_before_the_submit_submits_once_and_delivers_once(
    tmp_path: Path,
) -> None:
    async with FakeSlack() as fake:
        # Slack posts the status card but the answer never reaches the bot: the job is
        # `pending` and nothing has been sent to the provider.
        await kill_with_call_in_flight(tmp_path, fake, "chat.postMessage")
        held = job_row(tmp_path)
        assert (held["state"], held["submit_attempts"]) == ("pending", 0)

        await restart_until_delivered(tmp_path, fake)

        done = job_row(tmp_path)
        assert (done["state"], done["submit_attempts"]) == ("delivered", 1)
        assert videos_in(fake) == [f"veo-{done['id']}.mp4"]
        assert len(fake.calls_to("files.completeUploadExternal")) == 1
        # The card the first process posted is found and used, not posted again.
        [card] = fake.channel("C1")
        assert str(done["id"]) in card.all_text and "Done" in card.all_text
    assert ledger(tmp_path) == ["settled"]


async def test_killed_while_the_video_is_being_posted_posts_it_once(tmp_path: Path) -> None:
    async with FakeSlack() as fake:
        # Slack has shared the video in the thread; the bot dies before hearing back.
        await kill_with_call_in_flight(tmp_path, fake, "files.completeUploadExternal")
        held = job_row(tmp_path)
        assert held["state"] == "delivering" and held["delivery_refs_json"] is None
        assert videos_in(fake) == [f"veo-{held['id']}.mp4"]

        await restart_until_delivered(tmp_path, fake)

        done = job_row(tmp_path)
        assert (done["state"], done["submit_attempts"]) == ("delivered", 1)
        assert videos_in(fake) == [f"veo-{done['id']}.mp4"]  # found, not posted again
        assert len(fake.calls_to("files.completeUploadExternal")) == 1
        refs = json.loads(str(done["delivery_refs_json"]))
        [result] = [m for m in fake.bot_messages("C1") if m.ts == refs["result_ts"]]
        assert result.metadata is not None
    assert ledger(tmp_path) == ["settled"]
