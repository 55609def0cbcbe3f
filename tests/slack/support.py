"""What the Slack tests share: veo-bot with its Slack adapter on a real web server, talking to
a fake Slack (`running_bot`, `SlackBot`), and where a job's card and result are. Test files
elsewhere import these too."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from adapters.slack import EVENTS_PATH, create_adapter
from bot.app import ChatAdapter
from bot.clock import Clock
from bot.jobs import JobService
from bot.models import GenerationRequest, Job, ProviderJobState, ProviderStatus, QuotaLimits
from bot.ports import VideoProvider
from bot.refs import SlackRefs
from bot.scheduler import Scheduler
from bot.settings import Settings
from storage.sqlite import SqliteStore
from tests.fakes._base import sample_mp4
from tests.fakes.slack import BotReply, FakeSlack, Message
from tests.support import ScriptedProvider, eventually, make_service, png_bytes

PNG = png_bytes(320, 180)
RUNNING = ProviderStatus(ProviderJobState.RUNNING, progress=50)
SUCCEEDED = ProviderStatus(ProviderJobState.SUCCEEDED, video_url="mem://video")


@dataclass
class SlackBot:
    """veo-bot with its Slack adapter on a real web server, talking to a fake Slack."""

    fake: FakeSlack
    adapter: ChatAdapter
    service: JobService
    provider: ScriptedProvider
    store: SqliteStore
    events_url: str
    scheduler: Scheduler

    async def command(self, text: str, *, user: str = "U1", channel: str = "C1") -> BotReply:
        payload = self.fake.command_payload(text, user=user, channel=channel)
        return await self.fake.send_command(self.events_url, payload)

    async def interact(self, payload: dict[str, Any]) -> BotReply:
        return await self.fake.send_interaction(self.events_url, payload)

    async def mention(
        self, message: Message, *, event_id: str, retry: int | None = None
    ) -> BotReply:
        event = self.fake.mention_event(message)
        return await self.fake.send_event(
            self.events_url, event, event_id=event_id, retry_num=retry
        )

    async def jobs(self) -> list[Job]:
        return await self.store.recent_jobs(100)

    async def next_job(self, known: int = 0) -> Job:
        """The job accepted after `known` earlier ones (jobs are made by background tasks)."""

        async def check() -> Job | None:
            jobs = await self.jobs()
            return sorted(jobs, key=lambda j: j.created_at)[known] if len(jobs) > known else None

        return await eventually(check)

    async def finished(self, job: Job) -> Job:
        return await asyncio.wait_for(self.service.wait_until_done(job.id), 10)

    async def ledger(self, job: Job) -> str:
        [row] = await self.store.ledger([job.id])
        return str(row["status"])

    def request_of(self, job: Job) -> GenerationRequest:
        assert job.provider_job_id is not None
        return self.provider.jobs[job.provider_job_id].request

    async def opened_view(self, count: int = 1) -> dict[str, Any]:
        return await self.fake.wait_for(
            lambda: self.fake.views[count - 1] if len(self.fake.views) >= count else None
        )


@contextlib.asynccontextmanager
async def running_bot(
    store: SqliteStore,
    tmp_path: Path,
    *,
    fake: FakeSlack | None = None,
    provider: ScriptedProvider | None = None,
    providers: dict[str, VideoProvider] | None = None,
    default_provider: str = "scripted",
    limits: QuotaLimits | None = None,
    socket_mode: bool = False,
    clock: Clock | None = None,
    commands_per_minute: int = 0,
    gateway_dialect: str = "images",
    unretired: tuple[str, ...] = (),
) -> AsyncIterator[SlackBot]:
    async with contextlib.AsyncExitStack() as stack:
        if fake is None:
            fake = await stack.enter_async_context(FakeSlack())
        settings = Settings(
            _env_file=None,
            slack_bot_token=fake.bot_token,
            slack_signing_secret=fake.signing_secret,
            slack_app_token=fake.app_token if socket_mode else None,
            slack_api_url=fake.api_url,
            veo_admins=["slack:UADMIN"],
        )
        adapter = create_adapter(settings)
        provider = provider or ScriptedProvider(video=sample_mp4())
        service = make_service(
            store,
            tmp_path,
            providers=providers or {"scripted": provider},
            surfaces={"slack": adapter.surface},
            limits=limits,
            default_provider=default_provider,
            clock=clock,
            commands_per_minute=commands_per_minute,
            gateway_dialect=gateway_dialect,
            unretired=unretired,
        )
        app = web.Application()
        adapter.mount(app)
        runner = web.AppRunner(app)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}{EVENTS_PATH}"
        stack.push_async_callback(adapter.close)
        await adapter.start(service)
        scheduler = Scheduler(service, idle_s=0.05)
        stack.push_async_callback(scheduler.stop)
        await scheduler.start()
        yield SlackBot(fake, adapter, service, provider, store, url, scheduler)


def card_of(fake: FakeSlack, job: Job) -> Message:
    status_ts = SlackRefs.of(job.origin.refs).status_ts
    assert status_ts is not None
    return fake.message(job.origin.channel_id, status_ts)


def result_of(fake: FakeSlack, job: Job) -> Message:
    assert job.delivery_refs is not None
    result_ts = SlackRefs.of(job.delivery_refs).result_ts
    assert result_ts is not None
    return fake.message(job.origin.channel_id, result_ts)
