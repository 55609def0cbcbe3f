"""`veo-bot cancel JOB`: the operator cancels a job from the terminal, with the words the
card's Cancel says, over the database a running bot shares (issue 18 part 3)."""

from __future__ import annotations

import time
from pathlib import Path

from bot import texts
from bot.models import GenerationRequest, Job, JobState, QuotaLimits
from bot.quota import period_at
from storage import open_store
from tests.support import origin, run_cli

ONE_AT_A_TIME = QuotaLimits(user_daily_s=100, user_concurrent=1, workspace_monthly_s=0)


def _job(job_id: str, now: float) -> Job:
    return Job(
        id=job_id,
        origin=origin(platform="discord", workspace="1", user="2"),
        request=GenerationRequest(prompt="a heron lands", duration_s=8),
        provider="local",
        model="local-draft",
        state=JobState.PENDING,
        created_at=now,
        updated_at=now,
        deadline_at=now + 600,
        cost_s=8,
        due_at=now + 3600,
    )


async def test_cancel_from_the_terminal_refunds_a_waiting_job_and_says_so(
    tmp_path: Path,
) -> None:
    now = time.time()
    store = await open_store(f"sqlite:///{tmp_path / 'veo.db'}")
    try:
        running = await store.create_job(_job("aa01", now), [], ONE_AT_A_TIME, period_at(now))
        waiting = await store.create_job(_job("aa02", now + 1), [], ONE_AT_A_TIME, period_at(now))
    finally:
        await store.close()
    assert (running.state, waiting.state) == (JobState.PENDING, JobState.QUEUED)

    done = run_cli(tmp_path, "cancel", "aa02")
    again = run_cli(tmp_path, "cancel", "aa02")
    unknown = run_cli(tmp_path, "cancel", "ffff")

    said = texts.cancelled_refunded(texts.operator(), 8)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == said
    assert said.startswith("Cancelled by the bot's operator — refunded")
    assert (again.returncode, again.stdout.strip()) == (0, said)  # idempotent
    assert unknown.returncode != 0 and "There is no job ffff." in unknown.stderr
    store = await open_store(f"sqlite:///{tmp_path / 'veo.db'}")
    try:
        job = await store.get_job("aa02")
        assert job is not None and job.state is JobState.CANCELLED
        assert [r["status"] for r in await store.ledger(["aa02"])] == ["refunded"]
        other = await store.get_job("aa01")
        assert other is not None and other.state is JobState.PENDING
    finally:
        await store.close()
