"""Provider faults through the real JobService, the real provider adapters and their HTTP
fakes, for every HTTP provider: a 429 storm with Retry-After, a 5xx burst, connection resets,
read timeouts, and a submit whose answer is lost or that never left."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.models import Job, JobState
from storage.sqlite import SqliteStore
from tests.fakes._base import Fault
from tests.faults.support import BY_NAME, FAMILIES, Bot, Family, provider_bot
from tests.support import eventually

RETRY_AFTER_S = 120.0  # far above the lease (30 s) and the backoff cap (0.05 s)
SUBMIT_STORM = 7  # more 429s than max_submit_attempts (5)
POLL_STORM = 10  # more 429s than max_failures (8)


@BY_NAME
async def test_a_429_storm_is_waited_out_as_retry_after_says(
    store: SqliteStore, tmp_path: Path, family: Family
) -> None:
    async with provider_bot(store, tmp_path, family) as bot:
        header = {"Retry-After": f"{RETRY_AFTER_S:g}"}
        bot.fake.inject(
            Fault(family.submit, 429, family.rate_limited, "POST", header, times=SUBMIT_STORM),
            Fault(
                family.status,
                429,
                family.rate_limited,
                family.status_method,
                header,
                times=POLL_STORM,
            ),
        )
        job = await bot.submit()

        async def parked() -> Job | None:
            """The job waiting out a Retry-After (a lease or a backoff is far shorter)."""
            current = await bot.service.get_job(job.id)
            assert current is not None and not current.state.is_terminal, current
            assert current.due_at is not None
            far = current.due_at - bot.clock.now() > RETRY_AFTER_S / 2
            return current if far and current.error_code == "provider_rate_limited" else None

        seen: list[tuple[str, int]] = []
        for _ in range(SUBMIT_STORM + POLL_STORM):
            waiting = await eventually(parked)
            # What the bot decided: not one request sooner than the provider asked.
            assert waiting.due_at is not None
            assert waiting.due_at - waiting.updated_at >= RETRY_AFTER_S - 0.01
            posts = len(bot.fake.received("POST", family.submit))
            gets = len(bot.fake.received(family.status_method, family.status))
            # A provider that lists its running jobs (useapi) may have seen it running first.
            state = "submitted" if waiting.state is JobState.RUNNING else waiting.state.value
            seen.append((state, posts + gets))
            bot.clock.skip(RETRY_AFTER_S)
        done = await asyncio.wait_for(bot.service.wait_until_done(job.id), 10)

        await bot.assert_delivered_once(done)
        # One request per Retry-After: first the submits, then the polls.
        assert seen == [("pending", n) for n in range(1, SUBMIT_STORM + 1)] + [
            ("submitted", SUBMIT_STORM + 1 + n) for n in range(1, POLL_STORM + 1)
        ]
        assert len(bot.fake.received("POST", family.submit)) == SUBMIT_STORM + 1


@BY_NAME
async def test_a_5xx_burst_is_ridden_out(
    store: SqliteStore, tmp_path: Path, family: Family
) -> None:
    async with provider_bot(store, tmp_path, family) as bot:
        bot.fake.inject(
            Fault(family.submit, 503, "Service Unavailable", "POST", times=2),
            Fault(family.status, 500, "Internal Server Error", family.status_method, times=3),
            Fault(family.download, 502, "Bad Gateway", "GET", times=2),
        )
        job = await bot.run()
        await bot.assert_delivered_once(job)
        assert len(bot.fake.received("POST", family.submit)) == 3
        assert len(bot.fake.received("GET", family.download)) == 3


@BY_NAME
async def test_connection_resets_are_survived(
    store: SqliteStore, tmp_path: Path, family: Family
) -> None:
    async with provider_bot(store, tmp_path, family) as bot:
        bot.fake.inject(
            Fault(family.status, method=family.status_method, reset=True, times=2),
            Fault(family.download, method="GET", reset=True),
        )
        job = await bot.run()
        await bot.assert_delivered_once(job)
        assert len(bot.fake.received("POST", family.submit)) == 1
        assert len(bot.fake.received("GET", family.download)) == 2


@BY_NAME
async def test_read_timeouts_are_survived(
    store: SqliteStore, tmp_path: Path, family: Family
) -> None:
    async with provider_bot(store, tmp_path, family, read_timeout_s=0.2) as bot:
        # The fake answers 0.6 s late; the client gives up after 0.2 s.
        bot.fake.inject(
            Fault(family.status, method=family.status_method, delay_s=0.6, passthrough=True),
            Fault(family.download, method="GET", delay_s=0.6, passthrough=True),
        )
        job = await bot.run()
        await bot.assert_delivered_once(job)
        assert len(bot.fake.received("POST", family.submit)) == 1
        # The slow download would have succeeded: it was abandoned and asked again.
        assert len(bot.fake.received("GET", family.download)) == 2


@BY_NAME
async def test_a_submit_whose_answer_is_lost_is_never_sent_twice(
    store: SqliteStore, tmp_path: Path, family: Family
) -> None:
    async with provider_bot(store, tmp_path, family, read_timeout_s=0.2) as bot:
        # The provider takes the job but answers after the client has given up on it.
        bot.fake.inject(Fault(family.submit, method="POST", delay_s=0.6, passthrough=True))
        job = await bot.submit()
        done = await asyncio.wait_for(bot.service.wait_until_done(job.id), 10)

        assert done.state is JobState.FAILED and done.error_code == "submit_answer_lost"
        [row] = await bot.store.ledger([job.id])
        assert row["status"] == "refunded"
        [failure] = bot.surface.of(job.id, "failure")
        assert "paying for it twice" in failure.text and "were not charged" in failure.text
        assert len(bot.fake.received("POST", family.submit)) == 1


async def test_a_submit_that_never_left_is_retried(store: SqliteStore, tmp_path: Path) -> None:
    family = FAMILIES[0]
    async with provider_bot(store, tmp_path, family) as bot:
        # Nothing listens where the provider should be: the request cannot have reached it.
        port = bot.fake.port
        await bot.fake.close()
        job = await bot.submit()
        await eventually(lambda: _attempts_at_least(bot, job, 2))
        again = family.make_fake(job_duration_s=0.05)
        await again.start(port)
        bot.fake = again
        try:
            done = await asyncio.wait_for(bot.service.wait_until_done(job.id), 10)
            await bot.assert_delivered_once(done)
        finally:
            await again.close()


async def _attempts_at_least(bot: Bot, job: Job, attempts: int) -> Job | None:
    current = await bot.store.get_job(job.id)
    return current if current is not None and current.submit_attempts >= attempts else None
