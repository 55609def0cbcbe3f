"""Provider callbacks: HMAC-bound to the job, never trusted (the job is re-polled), and
harmless when duplicated, forged, early or late."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from aiohttp import web

from adapters.providers.useapi import UseapiProvider
from bot import webhooks
from bot.clock import ManualClock, SystemClock
from bot.jobs import JobService
from bot.links import MediaLinks
from bot.models import GenerationRequest, Job, JobState, ProviderJobState, ProviderStatus
from bot.scheduler import Scheduler
from bot.web import build_web_app
from storage.sqlite import SqliteStore
from tests.fakes.useapi import TOKEN as USEAPI_TOKEN
from tests.fakes.useapi import UseapiFake
from tests.support import RecordingSurface, ScriptedProvider, eventually, make_service, origin

SECRET = "callback-secret"
DONE = ProviderStatus(ProviderJobState.SUCCEEDED, video_url="mem://v")


@dataclass
class Bot:
    service: JobService
    provider: ScriptedProvider
    surface: RecordingSurface
    scheduler: Scheduler
    base: str


@pytest.fixture
async def bot(store: SqliteStore, tmp_path: Path) -> AsyncIterator[Bot]:
    provider = ScriptedProvider([ProviderStatus(ProviderJobState.RUNNING, progress=10)])
    surface = RecordingSurface()
    service = make_service(
        store,
        tmp_path,
        providers={"scripted": provider},
        surfaces={"chat": surface},
        poll_interval_s=3600,
        webhook_secret=SECRET,
        public_url="http://bot.example",
    )
    app = build_web_app(store, MediaLinks(None, SECRET, SystemClock()), service=service)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    scheduler = Scheduler(service, idle_s=0.05)
    await scheduler.start()
    yield Bot(service, provider, surface, scheduler, f"http://127.0.0.1:{runner.addresses[0][1]}")
    await scheduler.stop()
    await runner.cleanup()


async def submitted_job(bot: Bot) -> Job:
    """A job at the provider with its next poll an hour away."""
    job = await bot.service.submit(GenerationRequest(prompt="p", duration_s=8), origin())

    async def at_provider() -> Job | None:
        current = await bot.service.get_job(job.id)
        return current if current and current.state is JobState.SUBMITTED else None

    return await eventually(at_provider)


def callback_url(bot: Bot, job: Job) -> str:
    url = bot.service.callback_url(job)
    assert url is not None and url.startswith("http://bot.example/callbacks/scripted/")
    return url.replace("http://bot.example", bot.base)


async def test_a_callback_makes_the_bot_look_and_deliver_without_waiting_for_the_poll(
    bot: Bot,
) -> None:
    job = await submitted_job(bot)
    bot.provider.jobs[job.provider_job_id or ""].readings = [DONE]
    async with httpx.AsyncClient() as client:
        response = await client.post(callback_url(bot, job), json={"status": "whatever"})
    assert response.status_code == 200
    assert response.json()["outcome"] == "polling"
    done = await asyncio.wait_for(bot.service.wait_until_done(job.id), 10)
    assert done.state is JobState.DELIVERED


async def test_the_body_is_not_trusted(bot: Bot) -> None:
    job = await submitted_job(bot)
    async with httpx.AsyncClient() as client:
        response = await client.post(
            callback_url(bot, job), json={"status": {"type": "completed", "artifact": {}}}
        )
    assert response.status_code == 200

    async def running() -> Job | None:
        current = await bot.service.get_job(job.id)
        return current if current and current.state is JobState.RUNNING else None

    # The provider, asked again, says "running": that is what the job shows, not the body.
    polled = await eventually(running)
    assert polled.progress == 10


async def test_duplicate_callbacks_racing_a_poll_post_the_video_once(bot: Bot) -> None:
    job = await submitted_job(bot)
    bot.provider.jobs[job.provider_job_id or ""].readings = [DONE]
    async with httpx.AsyncClient() as client:
        responses = await asyncio.gather(
            *(client.post(callback_url(bot, job), json={}) for _ in range(5)),
            bot.service.apply_status(job, DONE),
        )
    assert all(r.status_code == 200 for r in responses if isinstance(r, httpx.Response))
    done = await asyncio.wait_for(bot.service.wait_until_done(job.id), 10)
    assert done.state is JobState.DELIVERED
    assert len(bot.surface.of(job.id, "video")) == 1
    async with httpx.AsyncClient() as client:
        late = await client.post(callback_url(bot, job), json={})
    assert late.json()["outcome"] == "finished"
    assert len(bot.surface.of(job.id, "video")) == 1


async def test_forged_wrong_oversize_and_malformed_callbacks_change_nothing(bot: Bot) -> None:
    job = await submitted_job(bot)
    url = callback_url(bot, job)
    base = url.split("?")[0]
    async with httpx.AsyncClient() as client:
        forged = await client.post(base + "?token=" + "0" * 32, json={})
        missing = await client.post(base, json={})
        wrong_provider = await client.post(url.replace("/scripted/", "/useapi/"), json={})
        unknown = await client.post(url.replace(job.id, "feedfacecafe"), json={})
        oversize = await client.post(url, content=b"{" + b" " * 300_000 + b"}")
        malformed = await client.post(url, content=b"{not json")
    assert (forged.status_code, missing.status_code) == (401, 401)
    assert (wrong_provider.status_code, unknown.status_code) == (404, 404)
    assert oversize.status_code == 413
    assert malformed.status_code == 400
    after = await bot.service.get_job(job.id)
    assert after is not None
    assert (after.state, after.version, after.due_at) == (
        job.state,
        job.version,
        job.due_at,
    )
    assert bot.provider.jobs[job.provider_job_id or ""].polls == 0


async def test_a_provider_that_signs_its_callbacks_has_the_signature_checked(bot: Bot) -> None:
    bot.provider.callback_secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    job = await submitted_job(bot)
    url = callback_url(bot, job)
    body = b'{"status": "succeeded"}'
    stamp = int(time.time())
    signed = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(stamp),
        "webhook-signature": webhooks.sign(bot.provider.callback_secret, "msg_1", stamp, body),
        "content-type": "application/json",
    }
    async with httpx.AsyncClient() as client:
        unsigned = await client.post(url, content=body)
        forged = await client.post(
            url, content=body, headers=signed | {"webhook-signature": "v1,Zm9yZ2Vk"}
        )
        stale = await client.post(
            url,
            content=body,
            headers=signed
            | {
                "webhook-timestamp": str(stamp - 3600),
                "webhook-signature": webhooks.sign(
                    bot.provider.callback_secret, "msg_1", stamp - 3600, body
                ),
            },
        )
        after_refusals = await bot.service.get_job(job.id)
        good = await client.post(url, content=body, headers=signed)
    assert (unsigned.status_code, forged.status_code, stale.status_code) == (401, 401, 401)
    assert after_refusals is not None and after_refusals.version == job.version
    assert good.status_code == 200 and good.json()["outcome"] == "polling"


async def test_a_callback_that_beats_the_submit_answer_is_acted_on(bot: Bot) -> None:
    bot.provider.submit_gate = asyncio.Event()
    bot.provider.readings = [DONE]
    job = await bot.service.submit(GenerationRequest(prompt="p", duration_s=8), origin())
    await bot.provider.submitted.wait()
    pending = await bot.service.get_job(job.id)
    assert pending is not None and pending.state is JobState.PENDING
    async with httpx.AsyncClient() as client:
        early = await client.post(callback_url(bot, pending), json={})
    assert early.json()["outcome"] == "early"
    bot.provider.submit_gate.set()
    # With an hour between polls, only the remembered callback can explain a prompt delivery.
    done = await asyncio.wait_for(bot.service.wait_until_done(job.id), 10)
    assert done.state is JobState.DELIVERED


async def test_metrics_count_jobs_callbacks_and_provider_calls(bot: Bot) -> None:
    job = await submitted_job(bot)
    bot.provider.jobs[job.provider_job_id or ""].readings = [DONE]
    async with httpx.AsyncClient() as client:
        await client.post(callback_url(bot, job).split("?")[0] + "?token=bad", json={})
        await client.post(callback_url(bot, job), json={})
        await asyncio.wait_for(bot.service.wait_until_done(job.id), 10)
        text = (await client.get(f"{bot.base}/metrics")).text
    lines = set(text.splitlines())
    assert 'veo_jobs{state="delivered"} 1' in lines
    assert 'veo_jobs{state="pending"} 0' in lines
    assert 'veo_webhooks_rejected_total{reason="bad_token"} 1' in lines
    assert 'veo_webhooks_accepted_total{outcome="polling"} 1' in lines
    assert 'veo_deliveries_total{platform="chat"} 1' in lines
    assert (
        'veo_provider_calls_total{operation="submit",outcome="ok",provider="scripted"} 1' in lines
    )
    assert 'veo_provider_call_seconds_count{operation="status",provider="scripted"} 1' in lines
    assert "# TYPE veo_provider_call_seconds histogram" in lines


async def test_non_ascii_tokens_and_signatures_are_refused_not_server_errors(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    job = await submitted_job(bot)
    base = callback_url(bot, job).split("?")[0]
    later = int(time.time()) + 3600
    async with httpx.AsyncClient() as client:
        for forged in ("%C3%A9", "%FF", "0" * 31 + "%C3%A9"):
            callback = await client.post(f"{base}?token={forged}", json={})
            assert callback.status_code == 401, forged
            result = await client.get(
                f"{bot.base}/results/{job.id}.mp4?expires={later}&signature={forged}"
            )
            assert result.status_code == 403, forged
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert bot.provider.jobs[job.provider_job_id or ""].polls == 0


async def _chunked(data: bytes, size: int = 16 * 1024) -> AsyncIterator[bytes]:
    """The body as a provider's HTTP client may stream it: Transfer-Encoding: chunked."""
    for start in range(0, len(data), size):
        yield data[start : start + size]
        await asyncio.sleep(0)


async def test_a_chunked_body_is_read_whole_up_to_the_cap(bot: Bot) -> None:
    job = await submitted_job(bot)
    url = callback_url(bot, job)
    fits = json.dumps({"status": "running", "log": "x" * 200_000}).encode()
    too_large = json.dumps({"log": "x" * 300_000}).encode()
    async with httpx.AsyncClient() as client:
        refused = await client.post(url, content=_chunked(too_large))
        unchanged = await bot.service.get_job(job.id)
        accepted = await client.post(url, content=_chunked(fits))
    assert refused.request.headers["transfer-encoding"] == "chunked"
    assert refused.status_code == 413
    assert unchanged is not None and unchanged.version == job.version
    # 200 KB of JSON in 16 KB chunks: all of it is read, so it parses.
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["outcome"] == "polling"


async def test_an_expired_callback_token_is_refused_and_changes_nothing(
    store: SqliteStore, tmp_path: Path
) -> None:
    clock = ManualClock(1_790_000_000.0)
    provider = ScriptedProvider([ProviderStatus(ProviderJobState.RUNNING, progress=10)])
    service = make_service(
        store,
        tmp_path,
        providers={"scripted": provider},
        surfaces={"chat": RecordingSurface()},
        clock=clock,
        job_timeout_s=600,
        webhook_secret=SECRET,
        public_url="http://bot.example",
    )
    runner = web.AppRunner(build_web_app(store, MediaLinks(None, SECRET, clock), service=service))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    scheduler = Scheduler(service, idle_s=0.05)
    await scheduler.start()
    try:
        job = await service.submit(GenerationRequest(prompt="p", duration_s=8), origin())

        async def at_provider() -> Job | None:
            current = await service.get_job(job.id)
            return current if current and current.state is JobState.SUBMITTED else None

        submitted = await eventually(at_provider)
        await scheduler.stop()
        url = service.callback_url(submitted)
        assert url is not None
        url = url.replace("http://bot.example", f"http://127.0.0.1:{runner.addresses[0][1]}")
        token = parse_qs(urlparse(url).query)["token"][0]
        # The expiry is signed into the token: changing it breaks the signature.
        expires, _, digest = token.partition("-")
        assert int(expires) >= submitted.deadline_at
        later = url.replace(f"token={token}", f"token={int(expires) + 86400}-{digest}")
        clock.set(float(expires) + 1)
        async with httpx.AsyncClient() as client:
            expired = await client.post(url, json={})
            stretched = await client.post(later, json={})
            old_format = await client.post(url.replace(token, digest), json={})
            endless = await client.post(url.replace(token, "9" * 5000 + "-" + digest), json={})
        assert expired.status_code == 410
        assert (stretched.status_code, old_format.status_code, endless.status_code) == (401,) * 3
        after = await service.get_job(job.id)
        assert after is not None and after.version == submitted.version
        assert provider.jobs[submitted.provider_job_id or ""].polls == 0
        assert service.metrics.value("veo_webhooks_rejected_total", reason="expired_token") == 1
    finally:
        await scheduler.stop()
        await runner.cleanup()


async def test_a_hundred_replays_of_a_callback_make_the_bot_poll_once(
    store: SqliteStore, tmp_path: Path
) -> None:
    """Someone who saw a callback URL replays it: the provider is asked once per poll
    interval, not once per request."""
    async with UseapiFake(clock=lambda: 0.0) as fake:  # the fake's jobs never finish
        assert isinstance(fake, UseapiFake)
        provider = UseapiProvider(USEAPI_TOKEN, base_url=fake.base_url)
        sock = socket.socket()  # bound first, so that the callback URL can name its port
        sock.bind(("127.0.0.1", 0))
        service = make_service(
            store,
            tmp_path,
            providers={"useapi": provider},
            surfaces={"chat": RecordingSurface()},
            default_provider="useapi",
            poll_interval_s=10.0,  # the default VEO_POLL_INTERVAL_S
            webhook_secret=SECRET,
            public_url=f"http://127.0.0.1:{sock.getsockname()[1]}",
            unretired=("useapi",),  # its unsigned callbacks are the case under test
        )
        runner = web.AppRunner(
            build_web_app(store, MediaLinks(None, SECRET, SystemClock()), service=service)
        )
        await runner.setup()
        await web.SockSite(runner, sock).start()
        scheduler = Scheduler(service, idle_s=0.05)
        await scheduler.start()
        try:
            job = await service.submit(GenerationRequest(prompt="fox", model="veo3"), origin())

            async def at_provider() -> Job | None:
                current = await service.get_job(job.id)
                return current if current and current.state is JobState.SUBMITTED else None

            await eventually(at_provider)
            [create] = fake.received("POST", "/v1/ltxstudio/videos/veo-create")
            reply_url = create.json()["replyUrl"]
            # A job is read on its own or on useapi's list of running jobs (GET /scheduler).
            status_calls = len(fake.received("GET", "/v1/ltxstudio/assets/*")) + len(
                fake.received("GET", "/v1/ltxstudio/scheduler")
            )
            async with httpx.AsyncClient() as client:
                outcomes = [
                    (await client.post(reply_url, json={"status": "replayed"})).json()["outcome"]
                    for _ in range(100)
                ]
            assert outcomes[0] == "polling" and set(outcomes[1:]) == {"throttled"}
            await eventually(lambda: _polled(service, job.id))
            await scheduler.stop()  # nothing else may poll while we count
            asked = (
                len(fake.received("GET", "/v1/ltxstudio/assets/*"))
                + len(fake.received("GET", "/v1/ltxstudio/scheduler"))
                - status_calls
            )
            assert 1 <= asked <= 2
        finally:
            await scheduler.stop()
            await runner.cleanup()
            await provider.aclose()


async def _polled(service: JobService, job_id: str) -> Job | None:
    """The job once a poll has moved it to running."""
    job = await service.get_job(job_id)
    return job if job is not None and job.state is JobState.RUNNING else None
