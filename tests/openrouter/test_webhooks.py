"""OpenRouter's webhooks through the bot's own web server: signed ones deliver at once; forged,
stale and unsigned ones change nothing; a refused callback URL falls back to polling."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

import httpx

from bot.models import GenerationRequest, Job, JobState
from storage.sqlite import SqliteStore
from tests.fakes.openrouter import sign
from tests.openrouter.support import SECRET, SUBMIT, Bot, openrouter_bot
from tests.support import eventually, origin


async def test_a_signed_webhook_delivers_without_waiting_for_a_poll(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with openrouter_bot(
        store,
        tmp_path,
        public=True,
        http_callbacks=True,
        webhook_secret=SECRET,
        provider_secret=SECRET,
        poll_interval_s=3600,  # no poll comes before the test's own timeout: the webhook must
    ) as bot:
        job = await bot.run(GenerationRequest(prompt="a kite over dunes"))

        bot.delivered_once(job)
        [fake_job] = bot.fake.jobs.values()
        [(status, payload, headers)] = fake_job.callbacks
        assert status == 200
        assert payload["type"] == "video.generation.completed"
        assert payload["data"]["id"] == job.provider_job_id
        assert headers["X-OpenRouter-Idempotency-Key"] == f"{job.provider_job_id}-completed"
        assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", headers["X-OpenRouter-Signature"])
        [body] = bot.sent()
        assert body["callback_url"] == bot.service.callback_url(job)
        assert body["callback_url"].startswith(f"{bot.public_url}/callbacks/openrouter/{job.id}?")


async def test_forged_stale_and_unsigned_webhooks_are_refused_and_change_nothing(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with openrouter_bot(
        store,
        tmp_path,
        public=True,
        http_callbacks=True,
        provider_secret=SECRET,
        poll_interval_s=3600,
        job_duration_s=3600,
    ) as bot:
        job = await bot.service.submit(GenerationRequest(prompt="a kite"), origin())
        submitted = await eventually(lambda: _at_provider(bot, job))
        url = bot.service.callback_url(submitted)
        assert url is not None
        [fake_job] = bot.fake.jobs.values()
        body = json.dumps(bot.fake.envelope(fake_job)).encode()
        now = int(time.time())

        def signed(secret: str, stamp: int, content: bytes = body) -> dict[str, str]:
            return {
                "Content-Type": "application/json",
                "X-OpenRouter-Signature": f"t={stamp},v1={sign(secret, stamp, content)}",
            }

        async with httpx.AsyncClient() as client:
            answers = [
                await client.post(url, content=body, headers=signed("not-the-secret", now)),
                await client.post(url, content=body, headers=signed(SECRET, now - 360)),
                await client.post(url, content=body, headers=signed(SECRET, now + 360)),
                await client.post(
                    url, content=body.replace(b"pending", b"completed"), headers=signed(SECRET, now)
                ),
                await client.post(url, content=body, headers={"Content-Type": "application/json"}),
                await client.post(
                    url, content=body, headers={"X-OpenRouter-Signature": f"t={now}"}
                ),
                await client.post(
                    url,
                    content=body,
                    headers={"X-OpenRouter-Signature": f"t=soon,v1={sign(SECRET, now, body)}"},
                ),
            ]
            after = await bot.service.get_job(job.id)
            reads_before = len(bot.fake.received("GET", f"{SUBMIT}/{submitted.provider_job_id}"))
            good = await client.post(url, content=body, headers=signed(SECRET, now))
        assert [a.status_code for a in answers] == [401] * len(answers)
        assert after is not None and after.version == submitted.version
        assert after.due_at == submitted.due_at
        assert reads_before == 0  # no refusal made the bot ask OpenRouter anything
        assert good.status_code == 200 and good.json()["outcome"] == "polling"
        await eventually(lambda: _read(bot, submitted))


async def _at_provider(bot: Bot, job: Job) -> Job | None:
    current = await bot.service.get_job(job.id)
    return current if current is not None and current.state is JobState.SUBMITTED else None


async def _read(bot: Bot, job: Job) -> bool | None:
    return True if bot.fake.received("GET", f"{SUBMIT}/{job.provider_job_id}") else None


async def test_without_a_secret_an_unsigned_webhook_is_taken_on_the_token_alone(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with openrouter_bot(
        store, tmp_path, public=True, http_callbacks=True, poll_interval_s=3600
    ) as bot:
        job = await bot.run(GenerationRequest(prompt="a kite"))
        bot.delivered_once(job)
        [fake_job] = bot.fake.jobs.values()
        [(status, _payload, headers)] = fake_job.callbacks
        assert status == 200 and "X-OpenRouter-Signature" not in headers


async def test_a_plain_http_callback_refused_by_openrouter_falls_back_to_polling(
    store: SqliteStore, tmp_path: Path
) -> None:
    # The fake wants HTTPS, as OpenRouter does; the bot's public URL is plain HTTP.
    async with openrouter_bot(store, tmp_path, public=True) as bot:
        first = await bot.run(GenerationRequest(prompt="a tram in the rain"))
        second = await bot.run(GenerationRequest(prompt="a tram in the snow"))

        bot.delivered_once(first)
        bot.delivered_once(second)
        refused, retried, learned = bot.sent()
        assert refused["callback_url"].startswith(f"{bot.public_url}/callbacks/openrouter/")
        assert {k: v for k, v in refused.items() if k != "callback_url"} == retried
        assert "callback_url" not in learned  # asked once, not again for every job
        assert len(bot.fake.jobs) == 2


async def test_an_https_callback_url_is_always_sent(store: SqliteStore, tmp_path: Path) -> None:
    with socket.socket() as probe:  # an HTTPS URL nobody answers: the webhook is lost
        probe.bind(("127.0.0.1", 0))
        dead = f"https://127.0.0.1:{probe.getsockname()[1]}"
    async with openrouter_bot(store, tmp_path, public_url=dead) as bot:
        job = await bot.run(GenerationRequest(prompt="a lantern rises"))
        bot.delivered_once(job)  # by polling
        [body] = bot.sent()
        assert body["callback_url"] == bot.service.callback_url(job)
