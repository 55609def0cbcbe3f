"""A video the provider made (and billed) stays spent and stays reachable when the place it was
asked for refuses it: the requester removes the bot from the channel, deletes or locks the
thread, archives the Slack channel, even closes their DMs. Through the fake Discord and the
fake Slack, with the real adapters, core, store and scheduler; the quota, the DM, `/metrics`
and `veo-bot jobs` are read where people read them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.clock import SystemClock
from bot.jobs import JobService
from bot.links import MediaLinks
from bot.models import Job, JobState, ProviderJobState, ProviderStatus
from bot.refs import DiscordRefs, SlackRefs
from bot.web import build_web_app
from storage.sqlite import SqliteStore
from tests.discord.support import (
    DiscordBot,
    discord_endpoints,  # noqa: F401 - its autouse fixture
)
from tests.discord.support import running_bot as discord_bot
from tests.fakes._base import Fault, sample_mp4
from tests.fakes.discord import FakeDiscord
from tests.slack.support import SlackBot
from tests.slack.support import running_bot as slack_bot
from tests.support import ScriptedProvider, eventually, run_cli

RUNNING = ProviderStatus(ProviderJobState.RUNNING, progress=50)
SUCCEEDED = ProviderStatus(ProviderJobState.SUCCEEDED, video_url="mem://video")


def held_provider() -> ScriptedProvider:
    """A provider whose jobs run until the test says they are done (`finish`)."""
    return ScriptedProvider([RUNNING], video=sample_mp4())


def finish(provider: ScriptedProvider, job: Job) -> None:
    assert job.provider_job_id is not None
    provider.jobs[job.provider_job_id].readings = [SUCCEEDED]


async def scrape_metrics(service: JobService) -> str:
    """`GET /metrics` on the bot's own web server."""
    app = build_web_app(service.store, MediaLinks(None, "s", SystemClock()), service=service)
    async with TestClient(TestServer(app)) as client:
        answer = await client.get("/metrics")
        assert answer.status == 200
        return await answer.text()


async def ledger(store: SqliteStore, job: Job) -> str:
    [row] = await store.ledger([job.id])
    return str(row["status"])


# --- Discord ------------------------------------------------------------------------------


async def discord_job_at_provider(bot: DiscordBot) -> Job:
    await bot.reply(await bot.fake.slash("veo", {"prompt": "a lighthouse in fog", "duration": 8}))
    return await bot.started()


async def _remove_the_bot(fake: FakeDiscord, job: Job) -> None:
    fake.remove_bot(fake.channel_id)  # a server admin takes the bot's access to the channel


def thread_of(job: Job) -> int:
    """The Discord job's thread."""
    thread = DiscordRefs.of(job.origin.refs).thread_id
    assert thread is not None
    return int(thread)


async def _delete_the_thread(fake: FakeDiscord, job: Job) -> None:
    await fake.delete_channel(thread_of(job))


async def _lock_the_thread(fake: FakeDiscord, job: Job) -> None:
    await fake.lock_thread(thread_of(job))


@pytest.mark.parametrize(
    "refuse",
    [_remove_the_bot, _delete_the_thread, _lock_the_thread],
    ids=["bot removed", "thread deleted", "thread locked"],
)
async def test_discord_a_video_refused_by_its_thread_goes_by_dm_and_stays_charged(
    store: SqliteStore,
    tmp_path: Path,
    refuse: Callable[[FakeDiscord, Job], Awaitable[None]],
) -> None:
    provider = held_provider()
    async with discord_bot(store, tmp_path, provider=provider) as bot:
        fake = bot.fake
        job = await discord_job_at_provider(bot)
        await refuse(fake, job)
        finish(provider, job)
        done = await bot.finished(job)

        assert (done.state, done.error_code) == (JobState.DELIVERED, "sent_privately")
        dm = fake.dm_of(fake.owner)
        assert dm is not None
        [sent] = fake.bot_messages_in(dm)
        assert [video.data for video in sent.videos] == [provider.video]
        assert f"could not be posted in <#{job.origin.channel_id}>" in sent.text()
        assert f"veo job {job.id}" in sent.text()
        assert not any(m.videos for m in fake.bot_messages_in(thread_of(job)))
        # The provider made it: the seconds count, whatever became of the thread.
        assert await ledger(store, done) == "settled"
        quota = await bot.reply(await fake.slash("veo-quota"))
        assert "used 8 s of video" in quota
        metrics = await scrape_metrics(bot.service)
        assert 'veo_undeliverable_total{outcome="sent_privately",platform="discord"} 1' in metrics
        # One refusal is enough to know: no retries of the post (8 would follow a 5xx), only
        # a handful of calls that each learnt it (a progress edit, the post, the card).
        assert len([c for c in fake.rest if 400 <= c.status < 500]) <= 5
        assert isinstance(done.delivery_refs, DiscordRefs)
        assert done.delivery_refs.dm_channel_id == str(dm)
        assert done.delivery_refs.path is not None
        kept = Path(done.delivery_refs.path)
        assert await asyncio.to_thread(kept.read_bytes) == provider.video


async def test_discord_a_retry_that_can_no_longer_read_the_thread_still_sends_the_dm(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = held_provider()
    async with discord_bot(store, tmp_path, provider=provider) as bot:
        fake = bot.fake
        job = await discord_job_at_provider(bot)
        thread = thread_of(job)
        fake.server_error("POST", f"/channels/{thread}/messages")  # the first try: a 503
        fake.remove_bot(fake.channel_id)  # and before the next one, the bot is removed
        finish(provider, job)
        done = await bot.finished(job)

        # The retry looked for an earlier post, was refused, and went on to the DM.
        assert fake.calls("GET", f"/channels/{thread}/messages")
        assert (done.state, done.error_code) == (JobState.DELIVERED, "sent_privately")
        dm = fake.dm_of(fake.owner)
        assert dm is not None
        [sent] = fake.bot_messages_in(dm)
        assert [video.data for video in sent.videos] == [provider.video]
        assert await ledger(store, done) == "settled"


async def test_discord_a_video_too_large_to_upload_goes_by_dm_as_its_link(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider([RUNNING], video=b"\x00" * 50_000)  # no encoding fits 1 kB
    async with (
        FakeDiscord(attachment_size_limit=1000) as fake,
        discord_bot(
            store, tmp_path, fake=fake, provider=provider, public_url="https://veo.example.org"
        ) as bot,
    ):
        job = await discord_job_at_provider(bot)
        fake.remove_bot(fake.channel_id)
        finish(provider, job)
        done = await bot.finished(job)

        assert (done.state, done.error_code) == (JobState.DELIVERED, "sent_privately")
        dm = fake.dm_of(fake.owner)
        assert dm is not None
        [sent] = fake.bot_messages_in(dm)
        assert sent.videos == []
        assert f"<https://veo.example.org/results/{job.id}.mp4?expires=" in sent.content
        assert await ledger(store, done) == "settled"
        kept = tmp_path / "downloads" / "results" / f"{job.id}.mp4"
        assert kept.read_bytes() == provider.video  # what the link serves


async def test_discord_with_dms_closed_too_the_video_is_kept_charged_and_listed(
    store: SqliteStore, store_url: str, tmp_path: Path
) -> None:
    provider = held_provider()
    async with discord_bot(store, tmp_path, provider=provider) as bot:
        fake = bot.fake
        fake.owner.dms_open = False
        job = await discord_job_at_provider(bot)
        fake.remove_bot(fake.channel_id)
        finish(provider, job)
        done = await bot.finished(job)

        assert (done.state, done.error_code) == (JobState.FAILED, "undelivered")
        assert "no longer allowed to post here" in (done.error_message or "")
        dm = fake.dm_of(fake.owner)
        assert dm is not None and fake.bot_messages_in(dm) == []
        assert await ledger(store, done) == "settled"
        assert "used 8 s of video" in await bot.reply(await fake.slash("veo-quota"))
        metrics = await scrape_metrics(bot.service)
        assert 'veo_undeliverable_total{outcome="kept",platform="discord"} 1' in metrics
        kept = tmp_path / "downloads" / "results" / f"{job.id}.mp4"
        assert await asyncio.to_thread(kept.read_bytes) == provider.video

    listing = await asyncio.to_thread(run_cli, tmp_path, "jobs", VEO_DATABASE_URL=store_url)
    assert listing.returncode == 0, listing.stderr
    assert f"made but not delivered; the video is at {kept}" in listing.stdout


# --- Slack --------------------------------------------------------------------------------


async def slack_job_at_provider(bot: SlackBot) -> Job:
    await bot.command("a lighthouse in fog")

    async def started() -> Job | None:
        jobs = await bot.jobs()
        ready = jobs and jobs[0].provider_job_id and SlackRefs.of(jobs[0].origin.refs).status_ts
        return jobs[0] if ready else None

    return await eventually(started)


@pytest.mark.parametrize(
    ("refuse", "said"),
    [("remove_bot", "The bot is not in this channel"), ("archive", "This channel is archived")],
    ids=["bot removed", "channel archived"],
)
async def test_slack_a_video_refused_by_its_channel_goes_by_dm_and_stays_charged(
    store: SqliteStore, tmp_path: Path, refuse: str, said: str
) -> None:
    provider = held_provider()
    async with slack_bot(store, tmp_path, provider=provider) as bot:
        fake = bot.fake
        job = await slack_job_at_provider(bot)
        getattr(fake, refuse)("C1")
        finish(provider, job)
        done = await bot.finished(job)

        assert (done.state, done.error_code) == (JobState.DELIVERED, "sent_privately")
        assert (done.error_message or "").startswith(said)  # why it went by DM instead
        dm = fake.dms["U1"]
        shares = [c["channel_id"] for c in fake.calls_to("files.completeUploadExternal")]
        assert shares == ["C1", dm]  # refused in the channel, then shared in the DM
        [video] = fake.videos(dm)
        assert video.data == provider.video
        assert fake.videos("C1", SlackRefs.of(job.origin.refs).thread_ts) == []
        [shared] = [m for m in fake.channel(dm) if m.files]
        assert "could not be posted in <#C1>" in shared.text
        assert await ledger(store, done) == "settled"
        await bot.command("quota")
        [answer] = await fake.wait_for(lambda: fake.responses)
        assert "used *8 s*" in answer["text"]
        metrics = await scrape_metrics(bot.service)
        assert 'veo_undeliverable_total{outcome="sent_privately",platform="slack"} 1' in metrics


async def test_slack_when_no_dm_can_be_opened_the_video_is_kept_and_charged(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = held_provider()
    async with slack_bot(store, tmp_path, provider=provider) as bot:
        fake = bot.fake
        job = await slack_job_at_provider(bot)
        fake.remove_bot("C1")
        fake.inject(Fault("/api/conversations.open", 200, {"ok": False, "error": "user_disabled"}))
        finish(provider, job)
        done = await bot.finished(job)

        assert (done.state, done.error_code) == (JobState.FAILED, "undelivered")
        assert await ledger(store, done) == "settled"
        assert done.delivery_refs == SlackRefs(
            path=str(tmp_path / "downloads" / "results" / f"{job.id}.mp4")
        )
        kept = Path(done.delivery_refs.path or "")
        assert await asyncio.to_thread(kept.read_bytes) == provider.video
        metrics = await scrape_metrics(bot.service)
        assert 'veo_undeliverable_total{outcome="kept",platform="slack"} 1' in metrics
