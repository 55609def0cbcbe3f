"""The bot around one real provider adapter and its fake, for the provider contract tests: the
real JobService, scheduler and store, a channel that keeps what it is sent and, when asked,
the bot's own web server on 127.0.0.1 as its public URL (signed image links, callbacks)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.clock import Clock, SystemClock
from bot.jobs import JobService
from bot.links import MediaLinks
from bot.models import GenerationRequest, Job, JobState
from bot.ports import VideoProvider
from bot.scheduler import Scheduler
from bot.web import build_web_app
from storage.sqlite import SqliteStore
from tests.fakes._base import FakeProvider
from tests.support import KeepingSurface, make_service, origin

SECRET = "provider-bots-webhook-secret-0123456789"


@dataclass
class ProviderBot:
    fake: Any
    provider: VideoProvider
    service: JobService
    surface: KeepingSurface
    store: SqliteStore
    public_url: str | None

    async def submit(self, request: GenerationRequest) -> Job:
        return await self.service.submit(request, origin())

    async def run(self, request: GenerationRequest) -> Job:
        job = await self.submit(request)
        return await asyncio.wait_for(self.service.wait_until_done(job.id), 10)

    async def ledger(self, job: Job) -> str:
        [row] = await self.store.ledger([job.id])
        return str(row["status"])

    def failure(self, job: Job) -> str:
        posts = self.surface.of(job.id, "failure")
        assert len(posts) == 1 and not self.surface.of(job.id, "video")
        return posts[0].text

    def assert_delivered_once(self, job: Job) -> None:
        assert job.state is JobState.DELIVERED, (job.error_code, job.error_message)
        assert self.surface.videos[job.id] == [self.fake.video]

    async def assert_failed_refunded(self, job: Job, code: str, words: str) -> None:
        assert (job.state, job.error_code) == (JobState.FAILED, code), job.error_message
        assert await self.ledger(job) == "refunded"
        message = self.failure(job)
        assert words in message and "not charged" in message
        assert_plain(message)


def assert_plain(message: str) -> None:
    """Words for people: no HTTP codes, no wire names, no JSON."""
    assert not re.search(r"\b[1-5]\d\d\b", message), message
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", message), message
    assert "{" not in message, message


@contextlib.asynccontextmanager
async def provider_bot(
    store: SqliteStore,
    tmp_path: Path,
    fake: FakeProvider,
    make_provider: Callable[[MediaLinks], VideoProvider],
    *,
    name: str,
    public: bool = False,
    poll_interval_s: float = 0.01,
    job_timeout_s: float = 600.0,
    clock: Clock | None = None,
) -> AsyncIterator[ProviderBot]:
    """The fake started, the adapter built on it, the bot running; with `public`, the bot's
    web server listens on a socket bound first, so its address is the public URL from the
    start (signed links and callback URLs name it)."""
    clock = clock or SystemClock()
    async with contextlib.AsyncExitStack() as stack:
        await fake.start()
        stack.push_async_callback(fake.close)
        sock: socket.socket | None = None
        public_url = None
        if public:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            public_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        links = MediaLinks(public_url, SECRET, clock)
        provider = make_provider(links)
        stack.push_async_callback(provider.aclose)
        surface = KeepingSurface()
        service = make_service(
            store,
            tmp_path,
            providers={name: provider},
            surfaces={"chat": surface},
            default_provider=name,
            clock=clock,
            poll_interval_s=poll_interval_s,
            job_timeout_s=job_timeout_s,
            webhook_secret=SECRET,
            public_url=public_url,
        )
        if sock is not None:
            runner = web.AppRunner(build_web_app(store, links, service=service))
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            await web.SockSite(runner, sock).start()
        scheduler = Scheduler(service, idle_s=0.02)
        await scheduler.start()
        stack.push_async_callback(scheduler.stop)
        yield ProviderBot(fake, provider, service, surface, store, public_url)
