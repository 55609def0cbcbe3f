"""What the OpenRouter tests share: the bot with the OpenRouter adapter against its fake and the
bot's own web server (`openrouter_bot`, and the `bot` fixture for tests/openrouter through its
conftest), the webhook secrets, and the images they send."""

from __future__ import annotations

import asyncio
import base64
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from adapters.providers.openrouter import OpenRouterProvider
from bot.clock import SystemClock
from bot.jobs import JobService
from bot.links import MediaLinks
from bot.live_models import LiveModels
from bot.models import GenerationRequest, Job, JobState
from bot.scheduler import Scheduler
from bot.web import build_web_app
from storage.sqlite import SqliteStore
from tests.fakes.openrouter import API_KEY, OpenRouterFake
from tests.support import KeepingSurface, make_service, origin, png_bytes

SUBMIT = "/api/v1/videos"
CONTENT = "/api/v1/videos/*/content"
SECRET = "whsec-openrouter-test"  # the workspace's webhook signing secret
LINK_SECRET = "links-and-callbacks-secret"
FIRST = png_bytes(640, 360, (250, 10, 10))
LAST = png_bytes(640, 360, (10, 10, 250))
REF = png_bytes(320, 320, (10, 200, 10))


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def frame(data: bytes, kind: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": data_url(data)}, "frame_type": kind}


@dataclass
class Bot:
    fake: OpenRouterFake
    provider: OpenRouterProvider
    service: JobService
    surface: KeepingSurface
    store: SqliteStore
    public_url: str | None

    async def run(self, request: GenerationRequest) -> Job:
        job = await self.service.submit(request, origin())
        return await asyncio.wait_for(self.service.wait_until_done(job.id), 10)

    def sent(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.fake.received("POST", SUBMIT)]

    def delivered_once(self, job: Job) -> None:
        assert job.state is JobState.DELIVERED, (job.error_code, job.error_message)
        assert self.surface.videos[job.id] == [self.fake.video]

    async def failed(
        self, job: Job, code: str, words: str, *, state: JobState = JobState.FAILED
    ) -> str:
        assert (job.state, job.error_code) == (state, code), job.error_message
        [post] = self.surface.of(job.id, "failure")
        assert words in post.text and "not charged" in post.text, post.text
        assert not re.search(r"\b[1-5]\d\d\b", post.text) and "{" not in post.text
        [row] = await self.store.ledger([job.id])
        assert row["status"] == "refunded"
        assert not self.surface.of(job.id, "video")
        return post.text

    async def live_models(self) -> None:
        """Read the fake's model list into the service's catalog, as the runtime does."""
        models = LiveModels(
            self.service.catalog,
            {"openrouter": self.provider},
            self.service.config.work_dir / "models",
            SystemClock(),
        )
        assert await models.refresh()


@asynccontextmanager
async def openrouter_bot(
    store: SqliteStore,
    tmp_path: Path,
    *,
    public: bool = False,
    public_url: str | None = None,
    provider_secret: str | None = None,
    api_key: str = API_KEY,
    poll_interval_s: float = 0.01,
    job_timeout_s: float = 600.0,
    **fake_options: Any,
) -> AsyncIterator[Bot]:
    """The bot with the OpenRouter provider against a fresh fake. With `public`, the bot's web
    server runs on 127.0.0.1 and is the public URL: images go as signed links the fake fetches,
    and the fake's webhooks reach `/callbacks/openrouter/{job}`."""
    fake = OpenRouterFake(**{"job_duration_s": 0.05, **fake_options})
    await fake.start()
    runner: web.AppRunner | None = None
    listener = socket.socket()
    if public:
        listener.bind(("127.0.0.1", 0))
        public_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    links = MediaLinks(public_url, LINK_SECRET, SystemClock())
    provider = OpenRouterProvider(
        api_key, links, base_url=fake.api_base, webhook_secret=provider_secret
    )
    surface = KeepingSurface()
    service = make_service(
        store,
        tmp_path,
        providers={"openrouter": provider},
        surfaces={"chat": surface},
        default_provider="openrouter",
        poll_interval_s=poll_interval_s,
        job_timeout_s=job_timeout_s,
        public_url=public_url,
        webhook_secret=LINK_SECRET if public_url else None,
    )
    if public:
        runner = web.AppRunner(build_web_app(store, links, service=service))
        await runner.setup()
        await web.SockSite(runner, listener).start()
    scheduler = Scheduler(service, idle_s=0.02)
    await scheduler.start()
    try:
        yield Bot(fake, provider, service, surface, store, public_url)
    finally:
        await scheduler.stop()
        await provider.aclose()
        if runner is not None:
            await runner.cleanup()
        listener.close()
        await fake.close()


@pytest.fixture
async def bot(store: SqliteStore, tmp_path: Path) -> AsyncIterator[Bot]:
    async with openrouter_bot(store, tmp_path) as running:
        yield running
