"""The Discord adapter end to end against a fake Discord (gateway websocket, REST API v10 and
CDN on 127.0.0.1): slash commands, the context menu, buttons and modals in; status cards,
threads, progress and the MP4 out, with the real core, store and scheduler. Assertions are on
what the fake holds and what the provider received."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import discord.gateway
import discord.http
import pytest

from adapters.discord import create_adapter
from adapters.discord._adapter import DiscordAdapter
from bot.jobs import JobService
from bot.models import (
    GenerationRequest,
    Job,
    JobState,
    ProviderJobState,
    ProviderStatus,
    QuotaLimits,
)
from bot.ports import VideoProvider
from bot.scheduler import Scheduler
from bot.settings import Settings
from storage.sqlite import SqliteStore
from tests.fakes._base import sample_mp4
from tests.fakes.discord_fake import (
    EPHEMERAL,
    MANAGE_GUILD,
    MEMBER_PERMISSIONS,
    PUBLIC_THREAD,
    FakeDiscord,
    Interaction,
    Message,
)
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
        return int(job.origin.refs["thread"])

    async def video_message(self, job: Job) -> Message:
        thread = self.thread_of(job)
        return await self.fake.wait_for(
            lambda: next((m for m in self.fake.bot_messages_in(thread) if m.videos), None)
        )


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
) -> AsyncIterator[DiscordBot]:
    async with contextlib.AsyncExitStack() as stack:
        if fake is None:
            fake = await stack.enter_async_context(FakeDiscord())
        adapter = create_adapter(settings_for(fake))
        provider = provider or ScriptedProvider(video=sample_mp4())
        service = make_service(
            store,
            tmp_path,
            providers=providers or {"scripted": provider},
            surfaces={"discord": adapter.surface},
            limits=limits,
        )
        stack.push_async_callback(adapter.close)
        await adapter.start(service)
        await fake.wait_ready()
        scheduler = Scheduler(service, idle_s=0.05)
        stack.push_async_callback(scheduler.stop)
        if start_scheduler:
            await scheduler.start()
        yield DiscordBot(fake, adapter, service, provider, store, scheduler)
        assert fake.violations == []


async def test_a_text_prompt_makes_a_video_in_the_thread_of_its_status_card(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider(
        [
            ProviderStatus(ProviderJobState.RUNNING, progress=10),
            ProviderStatus(ProviderJobState.RUNNING, progress=60),
            SUCCEEDED,
        ],
        video=sample_mp4(),
    )
    async with running_bot(store, tmp_path, provider=provider) as bot:
        fake = bot.fake
        asked = await fake.slash("veo", {"prompt": "a fox runs through snow"})
        reply = await bot.reply(asked)
        done = await bot.finished(await bot.next_job())

        assert asked.callback_type == 5 and asked.acked_after_s is not None
        assert asked.callbacks[0]["data"]["flags"] & EPHEMERAL
        assert f"Queued as job `{done.id}`" in reply
        assert done.state is JobState.DELIVERED
        assert bot.request_of(done).prompt == "a fox runs through snow"
        [card] = fake.bot_messages_in(fake.channel_id)
        assert "a fox runs through snow" in card.text() and done.id in card.text()
        assert "Done" in card.text()
        [thread] = fake.threads()
        assert int(thread["id"]) == card.id and thread["name"] == "a fox runs through snow"
        video = await bot.video_message(done)
        [mp4] = video.videos
        assert mp4.data == provider.video and mp4.filename == f"veo-{done.id}.mp4"
        assert {"Re-roll", "Delete"} <= {
            c.get("label") for c in _buttons(video)
        }
        assert f"<@{fake.owner.id}>" in video.content
        assert done.delivery_refs == {"channel": thread["id"], "message": str(video.id)}
        assert await bot.ledger(done) == "settled"


def _buttons(message: Message) -> list[dict[str, object]]:
    return [c for row in message.components for c in row.get("components", [])]


async def test_discord_internals_the_adapter_relies_on_still_exist() -> None:
    # DISCORD_API_BASE / DISCORD_GATEWAY_URL are applied through these (PLATFORMS.md).
    assert isinstance(discord.http.Route.BASE, str)
    assert discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY is not None


_ = (MANAGE_GUILD, MEMBER_PERMISSIONS, PUBLIC_THREAD, RUNNING)
