"""How a Gemini video comes back to the channel, how interactions end (each ending refunded in
plain words), and the errors Google answers with."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest

from bot.models import GenerationRequest, Job, JobState
from tests.fakes._base import Fault
from tests.fakes.gemini import API_KEY, REFUSAL_TEXT
from tests.gemini.support import CREATE, Bot, BotFactory, assert_plain
from tests.support import eventually, origin


async def test_a_large_inline_video_is_decoded_from_the_spooled_answer(
    make_bot: BotFactory,
) -> None:
    video = b"\x00\x00\x00\x18ftypmp42" + os.urandom(3 * 1024 * 1024)  # spooled to disk
    bot = await make_bot(video=video)
    job = await bot.run(GenerationRequest(prompt="surf at dawn"))

    bot.assert_delivered_once(job, video)
    assert job.result_bytes == len(video)


async def test_a_uri_answer_waits_for_the_file_to_be_active_then_downloads_with_the_key(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(get_returns_uri=True, file_processing_reads=1)
    job = await bot.run(GenerationRequest(prompt="a heron takes off"))

    bot.assert_delivered_once(job)
    [interaction] = bot.fake.interactions.values()
    reads = bot.fake.received("GET", f"/v1beta/files/{interaction.file_id}")
    assert len(reads) == 2  # PROCESSING, then ACTIVE on the retried delivery
    [download] = bot.fake.received("GET", "/v1beta/files/*:download")
    assert download.query == {"alt": "media"}
    assert download.headers["x-goog-api-key"] == API_KEY


async def test_a_completed_interaction_with_text_only_is_a_refusal_refunded(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    job = await bot.run(GenerationRequest(prompt="[refuse] a famous face"))

    assert job.state is JobState.FAILED and job.error_code == "content_rejected"
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    assert "without making a video" in message and "not charged" in message
    assert REFUSAL_TEXT not in message  # the model's own words stay out of the channel
    assert_plain(message)


@pytest.mark.parametrize(
    ("flag", "code", "words"),
    [
        ("[fail]", "provider_failed", "ran into a problem"),
        ("[blocked]", "content_rejected", "safety filter"),
        ("[incomplete]", "provider_incomplete", "stopped before the video was finished"),
        ("[budget]", "provider_out_of_credits", "spending limit"),
        ("[action]", "provider_requires_action", "asked for a step the bot cannot take"),
    ],
)
async def test_every_unsuccessful_ending_is_refunded_in_plain_words(
    make_bot: BotFactory, flag: str, code: str, words: str
) -> None:
    bot = await make_bot()
    job = await bot.run(GenerationRequest(prompt=f"{flag} a glass city"))

    assert job.state is JobState.FAILED and job.error_code == code
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    assert words in message
    assert_plain(message)


async def test_a_cancelled_interaction_is_refunded(make_bot: BotFactory) -> None:
    bot = await make_bot(job_duration_s=5.0)
    job = await bot.service.submit(GenerationRequest(prompt="a long train"), origin())
    await eventually(lambda: _at_provider(bot, job))
    async with httpx.AsyncClient(base_url=bot.fake.base_url) as client:  # someone else cancels
        [interaction] = bot.fake.interactions
        cancelled = await client.post(
            f"/v1beta/interactions/{interaction}/cancel", headers={"x-goog-api-key": API_KEY}
        )
    assert cancelled.json()["status"] == "cancelled"

    done = await asyncio.wait_for(bot.service.wait_until_done(job.id), 10)
    assert done.state is JobState.FAILED and done.error_code == "provider_cancelled"
    assert await bot.ledger(done) == "refunded"
    assert "cancelled at Google" in bot.failure(done)


async def _at_provider(bot: Bot, job: Job) -> Job | None:
    current = await bot.service.get_job(job.id)
    return current if current is not None and current.provider_job_id else None


async def test_a_timed_out_job_is_cancelled_at_google(make_bot: BotFactory) -> None:
    bot = await make_bot(job_timeout_s=0.5)
    job = await bot.run(GenerationRequest(prompt="[slow] a long night train"))

    assert job.state is JobState.TIMED_OUT
    assert await bot.ledger(job) == "refunded"
    assert bot.fake.cancels == [job.provider_job_id]
    [cancel] = bot.fake.received("POST", "/v1beta/interactions/*/cancel")
    assert cancel.headers["x-goog-api-key"] == API_KEY


async def test_an_interaction_google_forgot_fails_refunded(make_bot: BotFactory) -> None:
    bot = await make_bot(job_duration_s=5.0)
    job = await bot.service.submit(GenerationRequest(prompt="a cat on a piano"), origin())
    await eventually(lambda: _at_provider(bot, job))
    bot.fake.interactions.clear()  # GET now answers 400 "Invalid interaction name"

    done = await asyncio.wait_for(bot.service.wait_until_done(job.id), 10)
    assert done.state is JobState.FAILED and done.error_code == "provider_job_not_found"
    assert await bot.ledger(done) == "refunded"
    assert_plain(bot.failure(done))


async def test_a_bad_key_tells_people_an_admin_must_check_it(make_bot: BotFactory) -> None:
    bot = await make_bot(key="not-the-key")
    job = await bot.run(GenerationRequest(prompt="a red balloon"))

    assert job.state is JobState.FAILED and job.error_code == "provider_auth"
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    assert "key" in message and "admin" in message
    assert_plain(message)
    assert len(bot.fake.received("POST", CREATE)) == 1  # not retried


@pytest.mark.parametrize("style", ["string", "rpc"])
async def test_both_error_envelopes_are_understood(make_bot: BotFactory, style: str) -> None:
    bot = await make_bot(error_style=style, daily_quota_exhausted=False)
    bot.fake.inject(
        Fault(
            CREATE,
            status=400,
            method="POST",
            body={"error": {"code": "invalid_request", "message": "Bad input."}}
            if style == "string"
            else {"error": {"code": 400, "message": "Bad input.", "status": "INVALID_ARGUMENT"}},
        )
    )
    job = await bot.run(GenerationRequest(prompt="a lamp"))

    assert job.state is JobState.FAILED and job.error_code == "provider_bad_request"
    assert await bot.ledger(job) == "refunded"
    assert_plain(bot.failure(job))


async def test_a_spent_daily_quota_is_not_retried_and_says_when(make_bot: BotFactory) -> None:
    bot = await make_bot(daily_quota_exhausted=True)
    job = await bot.run(GenerationRequest(prompt="a windmill at dusk"))

    assert job.state is JobState.FAILED and job.error_code == "provider_out_of_credits"
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    assert "today" in message and "tomorrow" in message
    assert_plain(message)
    assert len(bot.fake.received("POST", CREATE)) == 1
