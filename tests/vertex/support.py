"""What the Vertex AI (Veo 3.1) tests share: the bot with the Vertex adapter against its fake
(`make_bot`, a fixture for tests/vertex through its conftest), the paths the fake serves, and
the checks that a message is plain words."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from adapters.providers.vertex import VertexProvider, service_account_credentials
from bot.jobs import JobService
from bot.models import GenerationRequest, Job, JobState
from bot.scheduler import Scheduler
from storage.sqlite import SqliteStore
from tests.fakes import vertex
from tests.fakes.vertex import OUTPUT_URI, PROJECT, VertexFake, key_file_info
from tests.support import KeepingSurface, make_service, origin

FAST = "veo-3.1-fast-generate-001"
VEO31 = "veo-3.1-generate-001"
LITE = "veo-3.1-lite-generate-001"
MODELS_PATH = f"/v1/projects/{PROJECT}/locations/us-central1/publishers/google/models"
SUBMIT = "/v1/projects/*:predictLongRunning"
FETCH = "/v1/projects/*:fetchPredictOperation"
STORAGE = "/storage/v1/b/*"


class SkippingClock:
    """Wall-clock time the test can move forward, for the adapter's token cache."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Bot:
    fake: VertexFake
    provider: VertexProvider
    service: JobService
    surface: KeepingSurface
    store: SqliteStore

    async def run(self, request: GenerationRequest) -> Job:
        job = await self.service.submit(request, origin())
        return await asyncio.wait_for(self.service.wait_until_done(job.id), 20)

    async def ledger(self, job: Job) -> str:
        rows = await self.store.ledger([job.id])
        assert len(rows) == 1
        return str(rows[0]["status"])

    def submitted(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.fake.received("POST", SUBMIT)]

    def failure(self, job: Job) -> str:
        posts = self.surface.of(job.id, "failure")
        assert len(posts) == 1 and not self.surface.of(job.id, "video")
        return posts[0].text

    def assert_delivered_once(self, job: Job) -> None:
        assert job.state is JobState.DELIVERED, (job.error_code, job.error_message)
        assert self.surface.videos[job.id] == [self.fake.video]

    def tokens_used(self, pattern: str = "/*") -> set[str]:
        return {
            r.headers.get("Authorization", "")
            for r in self.fake.requests
            if r.path != "/token" and re.fullmatch(pattern.replace("*", ".*"), r.path)
        }


BotFactory = Callable[..., Awaitable[Bot]]


@pytest.fixture
async def make_bot(store: SqliteStore, tmp_path: Path) -> AsyncIterator[BotFactory]:
    async with contextlib.AsyncExitStack() as stack:

        async def build(
            *,
            gcs: bool = False,
            clock: Callable[[], float] = time.time,
            location: str = "us-central1",
            **options: Any,
        ) -> Bot:
            fake = vertex.create(job_duration_s=0.06, **options)
            await fake.start()
            stack.push_async_callback(fake.close)
            provider = VertexProvider(
                PROJECT,
                service_account_credentials(key_file_info(f"{fake.base_url}/token")),
                location=location,
                base_url=fake.base_url,
                output_gcs_uri=OUTPUT_URI if gcs else None,
                gcs_base_url=fake.base_url,
                clock=clock,
            )
            stack.push_async_callback(provider.aclose)
            surface = KeepingSurface()
            service = make_service(
                store,
                tmp_path,
                providers={"vertex": provider},
                surfaces={"chat": surface},
                default_provider="vertex",
                vertex_extend=gcs,
            )
            scheduler = Scheduler(service, idle_s=0.02)
            await scheduler.start()
            stack.push_async_callback(scheduler.stop)
            return Bot(fake, provider, service, surface, store)

        yield build


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def image_bytes(fmt: str, color: tuple[int, int, int] = (40, 90, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (320, 180), color).save(buf, format=fmt)
    return buf.getvalue()


def assert_plain(message: str) -> None:
    """Words for people: no HTTP codes, no Google status names, no JSON."""
    assert not re.search(r"\b[1-5]\d\d\b", message), message
    assert not re.search(r"\b[A-Z]+_[A-Z_]+\b", message), message
    assert "{" not in message and "error" not in message.lower(), message
