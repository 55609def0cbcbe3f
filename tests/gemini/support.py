"""What the Gemini API tests share: the bot with the Gemini adapter (Gemini Omni through the
Interactions API) against its fake (`make_bot`, a fixture for tests/gemini through its
conftest), the paths the fake serves, the retired Veo id and what people are told about it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from adapters.providers.gemini import GeminiProvider
from bot.jobs import JobService
from bot.models import GenerationRequest, Job, JobState
from bot.scheduler import Scheduler
from storage.sqlite import SqliteStore
from tests.fakes.gemini import API_KEY, GeminiFake, create
from tests.support import KeepingSurface, make_service, origin

CREATE = "/v1beta/interactions"
INTERACTION = "/v1beta/interactions/*"
RETIRED = "veo-3.1-fast-generate-preview"
RETIRED_SENTENCE = (
    "Veo 3.1 Fast (veo-3.1-fast-generate-preview) was retired by Google on 2026-10-22; "
    "use gemini-omni-1.1-flash instead."
)


@dataclass
class Bot:
    fake: GeminiFake
    provider: GeminiProvider
    service: JobService
    surface: KeepingSurface
    store: SqliteStore

    async def run(self, request: GenerationRequest) -> Job:
        job = await self.service.submit(request, origin())
        return await asyncio.wait_for(self.service.wait_until_done(job.id), 10)

    async def ledger(self, job: Job) -> str:
        [row] = await self.store.ledger([job.id])
        return str(row["status"])

    def created(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.fake.received("POST", CREATE)]

    def failure(self, job: Job) -> str:
        posts = self.surface.of(job.id, "failure")
        assert len(posts) == 1 and not self.surface.of(job.id, "video")
        return posts[0].text

    def assert_delivered_once(self, job: Job, video: bytes | None = None) -> None:
        assert job.state is JobState.DELIVERED, (job.error_code, job.error_message)
        assert self.surface.videos[job.id] == [video or self.fake.video]


BotFactory = Callable[..., Awaitable[Bot]]


@pytest.fixture
async def make_bot(store: SqliteStore, tmp_path: Path) -> AsyncIterator[BotFactory]:
    async with contextlib.AsyncExitStack() as stack:

        async def build(
            *,
            key: str = API_KEY,
            public_url: str | None = None,
            job_timeout_s: float = 600.0,
            **options: Any,
        ) -> Bot:
            fake = create(job_duration_s=options.pop("job_duration_s", 0.06), **options)
            await fake.start()
            stack.push_async_callback(fake.close)
            provider = GeminiProvider(key, base_url=fake.base_url)
            stack.push_async_callback(provider.aclose)
            surface = KeepingSurface()
            service = make_service(
                store,
                tmp_path,
                providers={"gemini": provider},
                surfaces={"chat": surface},
                default_provider="gemini",
                public_url=public_url,
                webhook_secret="hook-secret" if public_url else None,
                job_timeout_s=job_timeout_s,
            )
            # One scheduler for the whole test, like the bot's own loop.
            scheduler = Scheduler(service, idle_s=0.02)
            await scheduler.start()
            stack.push_async_callback(scheduler.stop)
            return Bot(fake, provider, service, surface, store)

        yield build


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def jpeg_bytes(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (320, 180), color).save(buf, format="JPEG")
    return buf.getvalue()


def assert_plain(message: str) -> None:
    """Words for people: no HTTP codes, no Google status names, no JSON."""
    assert not re.search(r"\b[1-5]\d\d\b", message), message
    assert not re.search(r"\b[A-Z]+_[A-Z_]+\b", message), message
    assert "{" not in message and "error" not in message.lower(), message
