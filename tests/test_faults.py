"""The fault suite's rows that no other file covers: provider faults (a 429 storm with
Retry-After, a 5xx burst, connection resets, read timeouts) through the real JobService, the
real provider adapters and their HTTP fakes, for every HTTP provider; and the database locked
by another writer while jobs move and settle. The SIGKILL rows are in test_kill.py."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from adapters.providers.aimlapi import AimlapiProvider
from adapters.providers.fal import FalProvider
from adapters.providers.gateway import GatewayProvider
from adapters.providers.gemini import GeminiProvider
from adapters.providers.openrouter import OpenRouterProvider
from adapters.providers.replicate import ReplicateProvider
from adapters.providers.useapi import UseapiProvider
from adapters.providers.vertex import VertexProvider, service_account_credentials
from bot.clock import SystemClock
from bot.jobs import JobService
from bot.links import MediaLinks
from bot.models import GenerationRequest, Job, JobState, ProviderJobState, ProviderStatus
from bot.ports import VideoProvider
from bot.refs import Refs
from bot.scheduler import Scheduler
from bot.web import build_web_app
from storage.sqlite import SqliteStore
from tests.fakes import aimlapi, fal, gateway, gemini, openrouter, replicate, useapi, vertex
from tests.fakes._base import FakeProvider, Fault, Recorded
from tests.support import KeepingSurface, ScriptedProvider, eventually, make_service, origin

# --- provider faults --------------------------------------------------------------------


class ShortReadTimeout(httpx.AsyncBaseTransport):
    """httpx's own transport with a read timeout short enough for a test: the adapters'
    clients wait 30 s. Only the timeout differs from production."""

    def __init__(self, read_s: float) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._timeout = httpx.Timeout(5.0, read=read_s).as_dict()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.extensions = {**request.extensions, "timeout": self._timeout}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class SkippingClock:
    """Wall-clock time that the test can move forward: a Retry-After of minutes is waited
    out by skipping, and the store's `due_at` shows what the bot decided to wait."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def skip(self, seconds: float) -> None:
        self.offset += seconds


@dataclass(frozen=True)
class Family:
    """One HTTP provider: its fake, its adapter, and the paths of its three calls."""

    name: str
    submit: str  # POST that starts a job
    status: str  # GET that reads it
    download: str  # GET of the result
    model: str | None
    rate_limited: Any  # the provider's own 429 body
    make_fake: Callable[..., FakeProvider]
    make_provider: Callable[[FakeProvider, httpx.AsyncBaseTransport], VideoProvider]
    started: Callable[[Any], int]  # how many jobs the fake has started
    status_method: str = "GET"  # how the status is read (Vertex POSTs fetchPredictOperation)
    # Providers that call back: the callback URL a submit carried, and the HTTP status of
    # each delivery the fake attempted (0: nobody answered).
    callback_of: Callable[[Recorded], str] | None = None
    callbacks_sent: Callable[[Any], list[int]] | None = None
    # Providers whose results expire: make the fake expire them at once, and what people
    # are told then.
    expire: Callable[[Any], None] | None = None
    expired_words: str = ""


def _links() -> MediaLinks:
    return MediaLinks(None, "s", SystemClock())


FAMILIES = [
    Family(
        "gemini",
        submit="/v1beta/interactions",
        status="/v1beta/interactions/*",
        download="/v1beta/files/*:download",
        model=None,
        rate_limited={
            "error": {
                "code": 429,
                "message": "Resource has been exhausted (e.g. check quota).",
                "status": "RESOURCE_EXHAUSTED",
            }
        },
        # Polls answer with the file's URI (the other way docs/providers.md §2.4 tolerates),
        # so that the download is a call of its own to break; inline videos ride on the polls.
        make_fake=lambda **options: gemini.GeminiFake(get_returns_uri=True, **options),
        make_provider=lambda fake, t: GeminiProvider(
            gemini.API_KEY, base_url=fake.base_url, transport=t
        ),
        started=lambda fake: len(fake.interactions),
    ),
    Family(
        "useapi",
        submit="/v1/ltxstudio/videos/*",
        status="/v1/ltxstudio/assets/email*",
        download="/results/*",
        model="veo3",
        rate_limited={"error": "Too many requests", "code": 429},
        make_fake=useapi.UseapiFake,
        make_provider=lambda fake, t: UseapiProvider(
            useapi.TOKEN, base_url=fake.base_url, transport=t
        ),
        started=lambda fake: len(fake.jobs),
        callback_of=lambda submit: submit.json()["replyUrl"],
        callbacks_sent=lambda fake: [s for j in fake.jobs.values() for s, _ in j.callbacks],
    ),
    Family(
        "gateway",
        submit="/v1/video/generations",
        status="/v1/video/generations/*",
        download="/v1/videos/*/content",
        model=None,
        rate_limited={"error": {"message": "rate limit exceeded", "type": "rate_limit_error"}},
        make_fake=gateway.GatewayFake,
        make_provider=lambda fake, t: GatewayProvider(
            fake.base_url, gateway.API_KEY, MediaLinks(None, "s", SystemClock()), transport=t
        ),
        started=lambda fake: len(fake.tasks),
    ),
    Family(
        "aimlapi",
        submit="/v2/generate/video/google/generation",
        status="/v2/generate/video/google/generation",
        download="/cdn/*",
        model="veo2",
        rate_limited={"message": "Too many requests", "statusCode": 429},
        make_fake=aimlapi.AimlapiFake,
        make_provider=lambda fake, t: AimlapiProvider(
            aimlapi.API_KEY,
            MediaLinks(None, "s", SystemClock()),
            base_url=fake.base_url,
            transport=t,
        ),
        started=lambda fake: len(fake.generations),
    ),
    Family(
        "vertex",
        submit="/v1/projects/*:predictLongRunning",
        status="/v1/projects/*:fetchPredictOperation",
        download="/storage/v1/b/*",  # results written to Cloud Storage
        model=None,
        rate_limited={
            "error": {
                "code": 429,
                "message": "Quota exceeded for aiplatform.googleapis.com/"
                "online_prediction_requests_per_base_model with base model: veo-3.1.",
                "status": "RESOURCE_EXHAUSTED",
            }
        },
        make_fake=vertex.VertexFake,
        make_provider=lambda fake, t: VertexProvider(
            vertex.PROJECT,
            service_account_credentials(vertex.key_file_info(f"{fake.base_url}/token")),
            base_url=fake.base_url,
            output_gcs_uri=vertex.OUTPUT_URI,
            gcs_base_url=fake.base_url,
            transport=t,
        ),
        started=lambda fake: len(fake.operations),
        status_method="POST",
    ),
    Family(
        "fal",
        submit="/fal-ai/*",
        status="/fal-ai/*/status",
        download="/files/*",
        model=None,
        rate_limited={"detail": "Rate limit exceeded", "error_type": "rate_limited"},
        make_fake=fal.FalFake,
        make_provider=lambda fake, t: FalProvider(
            fal.API_KEY,
            _links(),
            queue_url=fake.base_url,
            jwks_urls=(fake.base_url + fal.JWKS_PATH,),
            transport=t,
        ),
        started=lambda fake: len(fake.requests_by_id),
        callback_of=lambda submit: submit.query["fal_webhook"],
        callbacks_sent=lambda fake: [
            s for r in fake.requests_by_id.values() for s, _ in r.webhooks
        ],
        expire=lambda fake: setattr(fake, "file_ttl_s", 0.0),
        expired_words="lost or expired",
    ),
    Family(
        "replicate",
        submit="/v1/models/*/predictions",
        status="/v1/predictions/*",
        download="/delivery/*",
        model=None,
        rate_limited={
            "detail": "Request was throttled. Your rate limit resets in ~30s.",
            "status": 429,
            "title": "Too Many Requests",
        },
        make_fake=replicate.ReplicateFake,
        make_provider=lambda fake, t: ReplicateProvider(
            replicate.API_TOKEN, _links(), base_url=fake.base_url, transport=t
        ),
        started=lambda fake: len(fake.predictions),
        callback_of=lambda submit: submit.json()["webhook"],
        callbacks_sent=lambda fake: [
            s for p in fake.predictions.values() for s, _, _ in p.webhooks
        ],
        expire=lambda fake: setattr(fake, "output_ttl_s", 0.0),
        expired_words="keeps results for an hour",
    ),
    Family(
        "openrouter",
        submit="/api/v1/videos",
        status=openrouter.JOB_PATH,
        download="/api/v1/videos/*/content",
        model=None,
        rate_limited={"error": {"code": 429, "message": "Rate limit exceeded"}},
        make_fake=openrouter.OpenRouterFake,
        make_provider=lambda fake, t: OpenRouterProvider(
            openrouter.API_KEY,
            MediaLinks(None, "s", SystemClock()),
            base_url=fake.base_url + openrouter.API,
            transport=t,
        ),
        started=lambda fake: len(fake.jobs),
    ),
]
BY_NAME = pytest.mark.parametrize("family", FAMILIES, ids=[f.name for f in FAMILIES])


@dataclass
class Bot:
    family: Family
    fake: Any
    service: JobService
    surface: KeepingSurface
    store: SqliteStore
    clock: SkippingClock

    async def submit(self) -> Job:
        request = GenerationRequest(prompt="waves on basalt", model=self.family.model)
        return await self.service.submit(request, origin())

    async def run(self) -> Job:
        job = await self.submit()
        return await asyncio.wait_for(self.service.wait_until_done(job.id), 10)

    async def assert_delivered_once(self, job: Job) -> None:
        assert job.state is JobState.DELIVERED, (job.error_code, job.error_message)
        assert self.surface.videos[job.id] == [self.fake.video]
        assert not self.surface.of(job.id, "failure")
        [row] = await self.store.ledger([job.id])
        assert row["status"] == "settled"
        assert self.family.started(self.fake) == 1  # one video made (and billed) upstream
        assert [f for f in self.fake.faults if f.times] == []  # every fault was met


@contextlib.asynccontextmanager
async def provider_bot(
    store: SqliteStore,
    tmp_path: Path,
    family: Family,
    *,
    read_timeout_s: float = 5.0,
    public_url: str | None = None,
    job_timeout_s: float = 3600,
    serve: bool = False,
) -> AsyncIterator[Bot]:
    """With `serve`, the bot's own web server runs on a socket bound first, whose address is
    the public URL: callbacks reach the real route."""
    listener: socket.socket | None = None
    if serve:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        public_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    fake = family.make_fake(job_duration_s=0.05)
    await fake.start()
    provider = family.make_provider(fake, ShortReadTimeout(read_timeout_s))
    surface = KeepingSurface()
    clock = SkippingClock()
    service = make_service(
        store,
        tmp_path,
        providers={family.name: provider},
        surfaces={"chat": surface},
        default_provider=family.name,
        clock=clock,
        job_timeout_s=job_timeout_s,
        public_url=public_url,
        webhook_secret="hook-secret" if public_url else None,
        unretired=("useapi",),  # LTX Studio API retired 2026-03-09: its adapter is kept
    )
    runner: web.AppRunner | None = None
    if listener is not None:
        links = MediaLinks(public_url, "hook-secret", clock)
        runner = web.AppRunner(build_web_app(store, links, service=service))
        await runner.setup()
        await web.SockSite(runner, listener).start()
    scheduler = Scheduler(service, idle_s=0.02)
    await scheduler.start()
    try:
        yield Bot(family, fake, service, surface, store, clock)
    finally:
        await scheduler.stop()
        if runner is not None:
            await runner.cleanup()
        await provider.aclose()
        await fake.close()


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
            seen.append((waiting.state.value, posts + gets))
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


CALLING_BACK = [f for f in FAMILIES if f.callbacks_sent is not None]
SIGNING = [f for f in FAMILIES if f.name in ("fal", "replicate")]  # sign their callbacks
EXPIRING = [f for f in FAMILIES if f.expire is not None]


@pytest.mark.parametrize("family", CALLING_BACK, ids=[f.name for f in CALLING_BACK])
async def test_a_webhook_that_never_arrives_is_made_up_for_by_polling(
    store: SqliteStore, tmp_path: Path, family: Family
) -> None:
    with socket.socket() as probe:  # a port nobody listens on: every callback is lost
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    assert family.callback_of is not None and family.callbacks_sent is not None
    async with provider_bot(store, tmp_path, family, public_url=dead) as bot:
        job = await bot.run()
        await bot.assert_delivered_once(job)
        [sent] = bot.fake.received("POST", family.submit)
        callback = family.callback_of(sent)
        assert callback.startswith(f"{dead}/callbacks/{family.name}/{job.id}?token=")
        sent_back = family.callbacks_sent

        async def called_back() -> list[int] | None:
            return sent_back(bot.fake) or None

        assert await eventually(called_back) == [0]  # tried once, reached nobody


@pytest.mark.parametrize("family", SIGNING, ids=[f.name for f in SIGNING])
async def test_a_forged_webhook_is_refused_and_polling_still_delivers_once(
    store: SqliteStore, tmp_path: Path, family: Family
) -> None:
    assert family.callbacks_sent is not None
    sent_back = family.callbacks_sent
    async with provider_bot(store, tmp_path, family, serve=True) as bot:
        bot.fake.forge_webhooks = True  # signed, but not with the provider's key
        job = await bot.run()

        async def called_back() -> list[int] | None:
            return sent_back(bot.fake) or None

        assert await eventually(called_back) == [401]
        await bot.assert_delivered_once(job)
        refused = bot.service.metrics.value("veo_webhooks_rejected_total", reason="bad_signature")
        assert refused == 1


@pytest.mark.parametrize("family", EXPIRING, ids=[f.name for f in EXPIRING])
async def test_an_expired_result_fails_refunded_in_plain_words(
    store: SqliteStore, tmp_path: Path, family: Family
) -> None:
    assert family.expire is not None
    async with provider_bot(store, tmp_path, family) as bot:
        family.expire(bot.fake)  # the provider deletes results the moment they are made
        job = await bot.run()

        assert job.state is JobState.FAILED
        [failure] = bot.surface.of(job.id, "failure")
        assert family.expired_words in failure.text and "were not charged" in failure.text
        assert not bot.surface.of(job.id, "video")
        [row] = await bot.store.ledger([job.id])
        assert row["status"] == "refunded"
        assert len(bot.fake.received("POST", family.submit)) == 1  # not made a second time


async def test_an_openrouter_webhook_that_never_arrives_is_made_up_for_by_polling(
    store: SqliteStore, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # an HTTPS address nobody listens on: the webhook is lost
        probe.bind(("127.0.0.1", 0))
        dead = f"https://127.0.0.1:{probe.getsockname()[1]}"
    [family] = [f for f in FAMILIES if f.name == "openrouter"]
    async with provider_bot(store, tmp_path, family, public_url=dead) as bot:
        job = await bot.run()
        await bot.assert_delivered_once(job)
        [sent] = bot.fake.received("POST", family.submit)
        assert sent.json()["callback_url"].startswith(f"{dead}/callbacks/openrouter/{job.id}?")
        [fake_job] = bot.fake.jobs.values()

        async def called_back() -> list[int] | None:
            return [status for status, _, _ in fake_job.callbacks] or None

        assert await eventually(called_back) == [0]  # tried once, reached nobody


# --- the database locked by another writer ------------------------------------------------


@dataclass
class Gate:
    """Steps that park until the test opens the gate; counts how many are parked."""

    opened: asyncio.Event = field(default_factory=asyncio.Event)
    parked: int = 0

    async def wait(self) -> None:
        self.parked += 1
        await self.opened.wait()


class GatedProvider(ScriptedProvider):
    """A provider whose submit or first poll parks at a gate for prompts that ask for it
    ("[hold submit]", "[hold poll]"); "[fail]" makes the job fail at the provider."""

    def __init__(self) -> None:
        super().__init__(readings=[ProviderStatus(ProviderJobState.SUCCEEDED, video_url="m://v")])
        self.submit_held = Gate()
        self.poll_held = Gate()
        self.prompts: dict[str, str] = {}

    async def submit(
        self, job_id: str, request: GenerationRequest, *, callback_url: str | None
    ) -> str:
        if "[hold submit]" in request.prompt:
            await self.submit_held.wait()
        pid = await super().submit(job_id, request, callback_url=callback_url)
        self.prompts[pid] = request.prompt
        if "[fail]" in request.prompt:
            failed = ProviderStatus(ProviderJobState.FAILED, error_message="It could not.")
            self.jobs[pid].readings = [failed]
        return pid

    async def get_status(self, provider_job_id: str) -> ProviderStatus:
        if "[hold poll]" in self.prompts[provider_job_id]:
            await self.poll_held.wait()
        return await super().get_status(provider_job_id)


@dataclass
class GatedSurface(KeepingSurface):
    """A channel whose uploads park until the gate opens."""

    upload_held: Gate = field(default_factory=Gate)

    async def deliver(self, job: Job, video: Path, *, notice: str | None) -> Refs:
        await self.upload_held.wait()
        return await super().deliver(job, video, notice=notice)


class OtherWriter:
    """Another process's connection holding the database's write lock (`BEGIN IMMEDIATE`)
    with a write of its own in it, committed when the block ends. It runs in its own thread:
    a sqlite3 connection waits (and is used) in one thread, never the event loop's."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.locked = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._hold)

    def _hold(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                """INSERT INTO quota_overrides (scope, subject, daily_s, updated_at)
                   VALUES ('user', 'chat:w1:admin-made', 77, 0)"""
            )
            self.locked.set()
            self.release.wait(timeout=30)
            db.execute("COMMIT")
        finally:
            db.close()

    async def __aenter__(self) -> OtherWriter:
        self.thread.start()
        await asyncio.to_thread(self.locked.wait, 10)
        assert self.locked.is_set()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release.set()
        await asyncio.to_thread(self.thread.join, 10)


HOLD_S = 2.0  # well under the store's busy timeout (5 s)


@pytest.mark.sqlite_only  # SQLite's write lock
async def test_a_database_locked_by_another_writer_loses_no_update(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = GatedProvider()
    surface = GatedSurface()
    service = make_service(
        store, tmp_path, providers={"scripted": provider}, surfaces={"chat": surface}
    )
    scheduler = Scheduler(service, idle_s=0.02)
    await scheduler.start()
    try:
        # Jobs parked at each step whose next move writes: recording a submit, a success, a
        # failure with its refund, and two deliveries with their charge.
        jobs = [
            await service.submit(GenerationRequest(prompt=prompt), origin())
            for prompt in ("one", "two", "[hold poll]", "[hold poll][fail]", "[hold submit]")
        ]

        async def all_parked() -> bool | None:
            gates = (surface.upload_held, provider.poll_held, provider.submit_held)
            return True if tuple(g.parked for g in gates) == (2, 2, 1) else None

        await eventually(all_parked)
        before = {j.id: (await store.get_job(j.id)) for j in jobs}
        assert [b.state.value for b in before.values() if b] == [
            "delivering",
            "delivering",
            "submitted",
            "submitted",
            "pending",
        ]

        async with OtherWriter(tmp_path / "veo.db"):
            locked_at = time.monotonic()
            for gate in (surface.upload_held, provider.poll_held, provider.submit_held):
                gate.opened.set()
            # A request arrives while the database is locked: it waits too.
            late = asyncio.create_task(service.submit(GenerationRequest(prompt="late"), origin()))
            await asyncio.sleep(HOLD_S)  # the fault itself: the lock is held this long
            assert not late.done()
            for job in jobs:  # nothing moved, and nothing failed for want of the lock
                now = await store.get_job(job.id)
                assert now == before[job.id]
            assert not [p for p in surface.posts if p.kind == "failure"]

        jobs.append(await asyncio.wait_for(late, 10))
        done = [await asyncio.wait_for(service.wait_until_done(job.id), 10) for job in jobs]
        assert time.monotonic() - locked_at >= HOLD_S
    finally:
        await scheduler.stop()

    states = [(job.request.prompt, job.state.value, job.error_code) for job in done]
    assert states == [
        ("one", "delivered", None),
        ("two", "delivered", None),
        ("[hold poll]", "delivered", None),
        ("[hold poll][fail]", "failed", "provider_failed"),
        ("[hold submit]", "delivered", None),
        ("late", "delivered", None),
    ]
    for job in done:
        assert len(surface.of(job.id, "video")) == (job.state is JobState.DELIVERED)
        assert job.poll_failures == job.delivery_failures == 0  # no step failed on the lock
    ledger = {row["job_id"]: row["status"] for row in await store.ledger()}
    assert ledger == {
        job.id: "settled" if job.state is JobState.DELIVERED else "refunded" for job in done
    }
    # The other writer's change survived alongside ours, and the books add up.
    overrides = await store.overrides()
    assert [(o.subject, o.daily_s) for o in overrides] == [("chat:w1:admin-made", 77)]
    usage = await service.quota_usage(origin())
    assert usage.in_flight == 0
    assert usage.used_today_s == sum(j.cost_s for j in done if j.state is JobState.DELIVERED)


async def test_a_lock_held_past_the_busy_timeout_is_retried_not_left_to_the_lease(
    tmp_path: Path,
) -> None:
    # A store that gives up on a lock after 0.1 s: the other writer outlasts it.
    store = await SqliteStore.open(tmp_path / "veo.db", busy_timeout_ms=100)
    provider = GatedProvider()
    surface = KeepingSurface()
    service = make_service(  # leases of 30 s: waiting one out would fail the eventually below
        store, tmp_path, providers={"scripted": provider}, surfaces={"chat": surface}
    )
    scheduler = Scheduler(service, idle_s=0.02, step_retry_s=0.05)
    await scheduler.start()
    try:
        job = await service.submit(GenerationRequest(prompt="[hold poll]"), origin())
        await eventually(lambda: _parked(provider))
        [scripted] = provider.jobs.values()
        async with OtherWriter(tmp_path / "veo.db"):
            provider.poll_held.opened.set()
            # The poll's answer cannot be written; the step is taken up again, and again.
            await eventually(lambda: _at_least(scripted.polls, 3), timeout_s=5)
            assert (await store.get_job(job.id)).state is JobState.SUBMITTED  # type: ignore[union-attr]
        done = await asyncio.wait_for(service.wait_until_done(job.id), 5)
    finally:
        await scheduler.stop()
        await store.close()

    assert done.state is JobState.DELIVERED
    assert len(surface.videos[job.id]) == 1
    [row] = await _ledger(tmp_path)
    assert row == "settled"


async def _parked(provider: GatedProvider) -> bool | None:
    return True if provider.poll_held.parked else None


async def _at_least(value: int, least: int) -> bool | None:
    return True if value >= least else None


async def _ledger(tmp_path: Path) -> list[str]:
    with sqlite3.connect(tmp_path / "veo.db") as db:
        return [status for (status,) in db.execute("SELECT status FROM quota_ledger")]
