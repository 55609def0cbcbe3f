"""What the Discord tests share: veo-bot with its Discord adapter connected to a fake Discord
(`running_bot`, `DiscordBot`), its settings, where a job's card and thread are, and the fixture
that restores discord.py's endpoints. Test files elsewhere import these too."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import discord.gateway
import discord.http
import pytest

from adapters.discord import create_adapter
from adapters.discord._adapter import DiscordAdapter
from bot.clock import Clock
from bot.jobs import JobService
from bot.models import GenerationRequest, Job, ProviderJobState, ProviderStatus, QuotaLimits
from bot.ports import VideoProvider
from bot.refs import DiscordRefs
from bot.scheduler import Scheduler
from bot.settings import Settings
from storage.sqlite import SqliteStore
from tests.fakes._base import sample_mp4
from tests.fakes.discord import FakeDiscord, Interaction, Message
from tests.support import ScriptedProvider, eventually, make_service, png_bytes

PNG = png_bytes(320, 180)
RUNNING = ProviderStatus(ProviderJobState.RUNNING, progress=50)
SUCCEEDED = ProviderStatus(ProviderJobState.SUCCEEDED, video_url="mem://video")


@pytest.fixture(autouse=True)
def discord_endpoints() -> Iterator[None]:
    """The adapter points discord.py's class attributes at the fake; put them back after."""
    base = discord.http.Route.BASE
    gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    yield
    discord.http.Route.BASE = base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway


@dataclass
class DiscordBot:
    """veo-bot with its Discord adapter, connected to a fake Discord."""

    fake: FakeDiscord
    adapter: DiscordAdapter
    service: JobService
    provider: ScriptedProvider
    store: SqliteStore
    scheduler: Scheduler

    async def jobs(self) -> list[Job]:
        return sorted(await self.store.recent_jobs(100), key=lambda j: j.created_at)

    async def next_job(self, known: int = 0) -> Job:
        async def check() -> Job | None:
            jobs = await self.jobs()
            return jobs[known] if len(jobs) > known else None

        return await eventually(check)

    async def started(self, known: int = 0) -> Job:
        """The job accepted after `known` earlier ones, once it is at the provider and its
        thread is open."""

        async def check() -> Job | None:
            jobs = await self.jobs()
            job = jobs[known] if len(jobs) > known else None
            ready = job is not None and job.provider_job_id and card_refs(job).thread_id
            return job if ready else None

        return await eventually(check)

    async def finished(self, job: Job) -> Job:
        return await asyncio.wait_for(self.service.wait_until_done(job.id), 15)

    async def reply(self, interaction: Interaction) -> str:
        """What the bot finally told the person who ran the interaction."""
        return await self.fake.wait_for(interaction.reply_text)

    async def ledger(self, job: Job) -> str:
        [row] = await self.store.ledger([job.id])
        return str(row["status"])

    def request_of(self, job: Job) -> GenerationRequest:
        assert job.provider_job_id is not None
        return self.provider.jobs[job.provider_job_id].request

    def thread_of(self, job: Job) -> int:
        thread = card_refs(job).thread_id
        assert thread is not None
        return int(thread)

    async def video_message(self, job: Job) -> Message:
        thread = self.thread_of(job)
        return await self.fake.wait_for(
            lambda: next((m for m in self.fake.bot_messages_in(thread) if m.videos), None)
        )


def card_refs(job: Job) -> DiscordRefs:
    """Where the Discord job's card and thread are."""
    return DiscordRefs.of(job.origin.refs)


def settings_for(fake: FakeDiscord, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "discord_token": fake.token,
        "discord_api_base": fake.api_base,
        "discord_gateway_url": fake.gateway_url,
        "veo_admins": ["discord:424242"],
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running_bot(
    store: SqliteStore,
    tmp_path: Path,
    *,
    fake: FakeDiscord | None = None,
    provider: ScriptedProvider | None = None,
    providers: dict[str, VideoProvider] | None = None,
    limits: QuotaLimits | None = None,
    start_scheduler: bool = True,
    public_url: str | None = None,
    clock: Clock | None = None,
    commands_per_minute: int = 0,
    unretired: tuple[str, ...] = (),
    job_timeout_s: float = 600.0,
    settings: Mapping[str, object] | None = None,
) -> AsyncIterator[DiscordBot]:
    async with contextlib.AsyncExitStack() as stack:
        if fake is None:
            fake = await stack.enter_async_context(FakeDiscord())
        adapter = create_adapter(settings_for(fake, **(settings or {})))
        provider = provider or ScriptedProvider(video=sample_mp4())
        service = make_service(
            store,
            tmp_path,
            providers=providers or {"scripted": provider},
            surfaces={"discord": adapter.surface},
            limits=limits,
            public_url=public_url,
            webhook_secret="test-secret" if public_url else None,
            clock=clock,
            commands_per_minute=commands_per_minute,
            unretired=unretired,
            job_timeout_s=job_timeout_s,
        )
        stack.push_async_callback(adapter.close)
        identified = fake.identifies
        await adapter.start(service)
        await fake.wait_ready(identifies=identified + 1)
        scheduler = Scheduler(service, idle_s=0.05)
        stack.push_async_callback(scheduler.stop)
        if start_scheduler:
            await scheduler.start()
        yield DiscordBot(fake, adapter, service, provider, store, scheduler)
        assert fake.violations == [], fake.violations


def buttons_of(message: Message) -> list[dict[str, object]]:
    return [c for row in message.components for c in row.get("components", [])]


def finish_at_provider(bot: DiscordBot, job: Job) -> None:
    """The provider finishes the job: its next reading is a success."""
    assert job.provider_job_id is not None
    bot.provider.jobs[job.provider_job_id].readings = [SUCCEEDED]
