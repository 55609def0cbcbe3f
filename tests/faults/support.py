"""What the fault suite shares: every HTTP provider as a `Family` (its fake, its adapter, the
paths of its calls), and `provider_bot`, the real JobService with one provider adapter talking
to its fake, with a read timeout short enough for a test. Test files elsewhere import these too.
The SIGKILL rows of the fault suite are in tests/test_kill.py."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from bot.budget import ProviderLimits
from bot.clock import SystemClock
from bot.jobs import JobService
from bot.links import MediaLinks
from bot.models import GenerationRequest, Job, JobState
from bot.ports import VideoProvider
from bot.scheduler import Scheduler
from bot.web import build_web_app
from tests.fakes import aimlapi, fal, gateway, gemini, openrouter, replicate, useapi, vertex
from tests.fakes._base import FakeProvider, Recorded
from tests.support import KeepingSurface, SkippingClock, make_service, origin

if TYPE_CHECKING:
    from storage import AnyStore


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
    store: AnyStore
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
    store: AnyStore,
    tmp_path: Path,
    family: Family,
    *,
    read_timeout_s: float = 5.0,
    public_url: str | None = None,
    job_timeout_s: float = 3600,
    serve: bool = False,
    budgets: Mapping[str, ProviderLimits] | None = None,
    job_duration_s: float = 0.05,
    fake: FakeProvider | None = None,
    scheduled: bool = True,
) -> AsyncIterator[Bot]:
    """With `serve`, the bot's own web server runs on a socket bound first, whose address is
    the public URL: callbacks reach the real route. With `fake`, that running fake (another
    bot's, as replicas share a provider) is talked to and left running. Without `scheduled`,
    no scheduler runs: the test steps the jobs or starts one itself."""
    listener: socket.socket | None = None
    if serve:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        public_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    own_fake = fake is None
    if fake is None:
        fake = family.make_fake(job_duration_s=job_duration_s)
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
        budgets=budgets,
    )
    runner: web.AppRunner | None = None
    if listener is not None:
        links = MediaLinks(public_url, "hook-secret", clock)
        runner = web.AppRunner(build_web_app(store, links, service=service))
        await runner.setup()
        await web.SockSite(runner, listener).start()
    scheduler = Scheduler(service, idle_s=0.02) if scheduled else None
    if scheduler is not None:
        await scheduler.start()
    try:
        yield Bot(family, fake, service, surface, store, clock)
    finally:
        if scheduler is not None:
            await scheduler.stop()
        if runner is not None:
            await runner.cleanup()
        await provider.aclose()
        if own_fake:
            await fake.close()
