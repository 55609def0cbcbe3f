"""OpenRouter's results and failures: the content route, signed URLs elsewhere that never get
the key, expired results, and every failure refunded in plain words."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.models import GenerationRequest, JobState
from storage.sqlite import SqliteStore
from tests.fakes.openrouter import API_KEY
from tests.openrouter.support import CONTENT, SUBMIT, Bot, openrouter_bot


async def test_a_completed_job_without_urls_is_fetched_from_the_content_route(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with openrouter_bot(store, tmp_path, omit_result_urls=True) as bot:
        job = await bot.run(GenerationRequest(prompt="a heron takes off"))
        bot.delivered_once(job)
        [download] = bot.fake.received("GET", CONTENT)
        assert download.headers["Authorization"] == f"Bearer {API_KEY}"


async def test_a_signed_url_on_another_origin_never_gets_the_key(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with openrouter_bot(store, tmp_path, signed_urls=True) as bot:
        job = await bot.run(GenerationRequest(prompt="a heron takes off"))
        bot.delivered_once(job)
        assert bot.fake.received("GET", "/storage/*")
        assert not bot.fake.storage_saw_authorization
        assert not bot.fake.received("GET", CONTENT)


async def test_an_expired_result_fails_refunded_after_one_fresh_look(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with openrouter_bot(store, tmp_path, result_ttl_s=0) as bot:
        job = await bot.run(GenerationRequest(prompt="a cat on a piano"))
        await bot.failed(job, "delivery_failed", "lost or expired")
        assert len(bot.fake.received("GET", CONTENT)) == 2


@pytest.mark.parametrize(
    ("prompt", "code", "words"),
    [
        ("[fail] a glass city", "provider_failed", "could not make this video"),
        ("[rai] a glass city", "content_rejected", "safety filter refused"),
        ("[expire] a glass city", "provider_job_not_found", "took longer than it allows"),
        ("[cancel] a glass city", "provider_cancelled", "cancelled this video"),
        ("[flagged] a glass city", "content_rejected", "safety filter refused"),
    ],
)
async def test_failures_are_refunded_in_plain_words(
    bot: Bot, prompt: str, code: str, words: str
) -> None:
    job = await bot.run(GenerationRequest(prompt=prompt))
    text = await bot.failed(job, code, words)
    assert (
        "Content policy" not in text and "violence" not in text
    )  # the provider's words stay in the log
    assert len(bot.fake.received("POST", SUBMIT)) == 1  # not retried


async def test_no_credits_and_a_bad_key_are_said_plainly(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with openrouter_bot(store, tmp_path, credits=0) as bot:
        job = await bot.run(GenerationRequest(prompt="a red balloon"))
        await bot.failed(job, "provider_out_of_credits", "out of credits")
    async with openrouter_bot(store, tmp_path, api_key="sk-or-v1-wrong") as bot:
        job = await bot.run(GenerationRequest(prompt="a red balloon"))
        await bot.failed(job, "provider_auth", "key for this video provider was refused")


async def test_a_rate_limited_submit_waits_retry_after_then_succeeds(bot: Bot) -> None:
    started = time.monotonic()
    job = await bot.run(GenerationRequest(prompt="[429] fireflies in a jar"))

    bot.delivered_once(job)
    assert time.monotonic() - started >= 0.95  # Retry-After: 1, not the 0.05 s backoff cap
    first, second = bot.sent()
    assert first == second


async def test_a_timed_out_job_asks_no_cancel_call_and_is_refunded(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with openrouter_bot(store, tmp_path, job_timeout_s=0.3) as bot:
        job = await bot.run(GenerationRequest(prompt="[slow] a long night train"))
        await bot.failed(job, "timed_out", "took longer than", state=JobState.TIMED_OUT)
        # OpenRouter has no cancel route: nothing but the submit and reads was asked.
        assert await bot.provider.cancel(job.provider_job_id or "") is False
        assert {r.method for r in bot.fake.requests} == {"POST", "GET"}
        assert len(bot.fake.received("POST", SUBMIT)) == 1
