"""The Discord adapter end to end against a fake Discord (gateway websocket, REST API v10 and
CDN on 127.0.0.1): slash commands, the context menu, buttons and modals in; status cards,
threads, progress and the MP4 out, with the real core, store and scheduler. Assertions are on
what the fake holds and what the provider received."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import discord.gateway
import discord.http
import pytest

from adapters.discord import create_adapter
from adapters.discord._adapter import DiscordAdapter
from bot.admin import Admins
from bot.clock import Clock
from bot.errors import ConfigurationError
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
from bot.refs import DiscordRefs
from bot.scheduler import Scheduler
from bot.settings import Settings
from storage.sqlite import SqliteStore
from tests.fakes._base import sample_mp4
from tests.fakes.discord import (
    ATTACH_FILES,
    EPHEMERAL,
    MANAGE_GUILD,
    MEMBER_PERMISSIONS,
    FakeDiscord,
    Interaction,
    Message,
    User,
)
from tests.support import ScriptedProvider, eventually, make_service, noisy_mp4, png_bytes

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
            public_url=public_url,
            webhook_secret="test-secret" if public_url else None,
            clock=clock,
            commands_per_minute=commands_per_minute,
            unretired=unretired,
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
        # Progress edits are throttled to one per 3 s: at most one, then the final "Done".
        edits = fake.calls("PATCH", f"/channels/{fake.channel_id}/messages/{card.id}")
        assert 1 <= len(edits) <= 2
        [thread] = fake.threads()
        assert int(thread["id"]) == card.id and thread["name"] == "a fox runs through snow"
        video = await bot.video_message(done)
        [mp4] = video.videos
        assert mp4.data == provider.video and mp4.filename == f"veo-{done.id}.mp4"
        assert {"Re-roll", "Delete"} <= {c.get("label") for c in _buttons(video)}
        assert f"<@{fake.owner.id}>" in video.content
        assert done.delivery_refs == DiscordRefs(channel_id=thread["id"], message_id=str(video.id))
        assert await bot.ledger(done) == "settled"


async def test_a_job_waiting_in_the_providers_queue_says_how_many_are_ahead(
    store: SqliteStore, tmp_path: Path
) -> None:
    queued = ProviderStatus(ProviderJobState.QUEUED, queue_position=3)
    provider = ScriptedProvider([queued, SUCCEEDED], video=sample_mp4())
    async with running_bot(store, tmp_path, provider=provider) as bot:
        fake = bot.fake
        await bot.reply(await fake.slash("veo", {"prompt": "a fox runs through snow"}))
        done = await bot.finished(await bot.next_job())

        [card] = fake.bot_messages_in(fake.channel_id)
        first_edit, *_ = fake.calls("PATCH", f"/channels/{fake.channel_id}/messages/{card.id}")
        [progress] = [f for f in first_edit.json["embeds"][0]["fields"] if f["name"] == "Progress"]
        assert progress["value"].endswith("0% · queued at the provider — 3 ahead")
        assert done.state is JobState.DELIVERED and "ahead" not in card.text()


def _buttons(message: Message) -> list[dict[str, object]]:
    return [c for row in message.components for c in row.get("components", [])]


async def test_discord_internals_the_adapter_relies_on_still_exist() -> None:
    # DISCORD_API_BASE / DISCORD_GATEWAY_URL are applied through these class attributes:
    # discord.py has no public setting for either.
    assert isinstance(discord.http.Route.BASE, str)
    assert discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY is not None


# --- images -------------------------------------------------------------------------------


async def test_an_attached_image_is_animated_with_every_setting(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        picture = fake.upload(PNG, "cat.png", "image/png", size=(320, 180))
        asked = await fake.slash(
            "veo",
            {
                "prompt": "the cat yawns",
                "image": picture,
                "model": "scripted/scripted-1",
                "duration": 4,
                "aspect_ratio": "9:16",
                "seed": 42,
                "negative_prompt": "blur",
            },
        )
        assert "Queued" in await bot.reply(asked)
        done = await bot.finished(await bot.next_job())

        request = bot.request_of(done)
        assert request.first_frame is not None and request.first_frame.data == PNG
        assert request.last_frame is None
        assert (request.duration_s, request.aspect_ratio, request.seed) == (4, "9:16", 42)
        assert request.negative_prompt == "blur"
        assert fake.cdn_requests == [f"/attachments/{fake.channel_id}/{picture.id}/cat.png"]
        video = await bot.video_message(done)
        assert video.videos[0].data == bot.provider.video
        embed = video.embeds[0]
        assert {
            "Model": "scripted-1",
            "Duration": "4 s",
            "Seed": "42",
            "Input": "image",
        }.items() <= {f["name"]: f["value"] for f in embed["fields"]}.items()


async def test_a_first_and_a_last_frame_both_reach_the_provider(
    store: SqliteStore, tmp_path: Path
) -> None:
    last_png = png_bytes(320, 180, color=(10, 200, 30))
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        first = fake.upload(PNG, "first.png", "image/png")
        last = fake.upload(last_png, "last.png", "image/png")
        asked = await fake.slash(
            "veo", {"prompt": "day turns to night", "image": first, "end_image": last}
        )
        await bot.reply(asked)
        done = await bot.finished(await bot.next_job())

        request = bot.request_of(done)
        assert request.first_frame is not None and request.first_frame.data == PNG
        assert request.last_frame is not None and request.last_frame.data == last_png
        assert "first + last frame" in (await bot.video_message(done)).text()


@pytest.mark.parametrize(
    ("name", "make", "said"),
    [
        (
            "notes.pdf",
            lambda: b"%PDF-1.7 not an image at all" * 10,
            "notes.pdf is not a PNG, JPEG or WebP image",
        ),
        ("huge.png", lambda: PNG + b"\0" * (21 * 1024 * 1024), "images may be at most 20 MB"),
        ("strip.png", lambda: png_bytes(1000, 100), "images must be between 1:4 and 4:1"),
    ],
)
async def test_a_bad_attachment_is_refused_privately_and_charges_nothing(
    store: SqliteStore, tmp_path: Path, name: str, make: Callable[[], bytes], said: str
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        attachment = fake.upload(make(), name, None)
        asked = await fake.slash("veo", {"prompt": "animate this", "image": attachment})

        reply = await bot.reply(asked)
        assert said in reply
        assert asked.callbacks[0]["data"]["flags"] & EPHEMERAL
        assert await bot.jobs() == []
        assert fake.bot_messages_in(fake.channel_id) == []
        assert bot.provider.submits == []
        if name == "huge.png":
            assert fake.cdn_requests == []  # refused on its declared size, not downloaded


async def test_a_prompt_too_long_for_the_model_is_refused_with_the_numbers(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        asked = await bot.fake.slash("veo", {"prompt": "a fox " * 30})

        reply = await bot.reply(asked)
        assert "The prompt is 179 characters long" in reply and "at most 100" in reply
        assert await bot.jobs() == []


# --- quotas -------------------------------------------------------------------------------


async def test_a_spent_quota_is_refused_saying_which_limit_and_when_it_frees(
    store: SqliteStore, tmp_path: Path
) -> None:
    limits = QuotaLimits(user_daily_s=10, user_concurrent=5, workspace_monthly_s=0)
    async with running_bot(store, tmp_path, limits=limits) as bot:
        fake = bot.fake
        first = await fake.slash("veo", {"prompt": "a fox", "duration": 8})
        await bot.reply(first)
        done = await bot.finished(await bot.next_job())
        assert "2 s of your 10 s left today" in (await bot.video_message(done)).text()

        second = await fake.slash("veo", {"prompt": "a second fox", "duration": 8})
        reply = await bot.reply(second)
        assert "costs 8 s of your daily quota" in reply and "2 s of 10 s left today" in reply
        assert "resets at" in reply
        assert len(await bot.jobs()) == 1

        quota = await fake.slash("veo-quota")
        text = await bot.reply(quota)
        assert quota.callbacks[0]["data"]["flags"] & EPHEMERAL
        assert "used 8 s of video out of 10 s: 2 s left" in text
        assert "Videos in progress: 0 of 5 at a time." in text


# --- failures -----------------------------------------------------------------------------


async def test_a_provider_failure_ends_the_card_in_plain_words_with_the_refund(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider(
        [
            RUNNING,
            ProviderStatus(
                ProviderJobState.FAILED,
                error_code="safety",
                error_message="The provider's safety filter refused this prompt.",
            ),
        ]
    )
    async with running_bot(store, tmp_path, provider=provider) as bot:
        fake = bot.fake
        await bot.reply(await fake.slash("veo", {"prompt": "a storm", "duration": 6}))
        done = await bot.finished(await bot.next_job())

        assert done.state is JobState.FAILED
        [card] = fake.bot_messages_in(fake.channel_id)
        text = card.text()
        assert "Failed" in text and "safety filter refused" in text
        assert "The 6 s it would have used were not charged." in text
        assert await bot.ledger(done) == "refunded"
        assert not any(m.videos for m in fake.bot_messages_in(bot.thread_of(done)))


async def test_a_result_larger_than_the_servers_limit_arrives_re_encoded_under_it(
    store: SqliteStore, tmp_path: Path
) -> None:
    source = tmp_path / "big.mp4"
    size = noisy_mp4(source, audio=True)
    limit = size // 3
    provider = ScriptedProvider(video=source.read_bytes())
    async with (
        FakeDiscord(attachment_size_limit=limit) as fake,
        running_bot(store, tmp_path, fake=fake, provider=provider) as bot,
    ):
        await bot.reply(await fake.slash("veo", {"prompt": "static on a screen"}))
        done = await bot.finished(await bot.next_job())

        assert done.state is JobState.DELIVERED
        [mp4] = (await bot.video_message(done)).videos
        assert len(mp4.data) <= limit < size
        assert [c for c in fake.rest if c.status == 413] == []


async def test_a_result_too_large_even_re_encoded_is_posted_as_an_expiring_link(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider(video=b"\x00" * 50_000)  # no encoding brings it under 1 kB
    async with (
        FakeDiscord(attachment_size_limit=1000) as fake,
        running_bot(
            store, tmp_path, fake=fake, provider=provider, public_url="https://veo.example.org"
        ) as bot,
    ):
        await bot.reply(await fake.slash("veo", {"prompt": "a very long pan"}))
        done = await bot.finished(await bot.next_job())

        assert done.state is JobState.DELIVERED
        [message] = fake.bot_messages_in(bot.thread_of(done))[-1:]
        assert message.videos == []
        assert f"https://veo.example.org/results/{done.id}.mp4?expires=" in message.content
        assert "too large to upload here" in message.content
        assert {"Re-roll", "Delete"} <= {c.get("label") for c in _buttons(message)}
        assert done.delivery_refs is not None and done.delivery_refs.link_expires_at is not None
        assert await bot.ledger(done) == "settled"


async def test_an_upload_rate_limited_by_discord_is_retried_and_posted_once(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider([RUNNING])
    async with running_bot(store, tmp_path, provider=provider) as bot:
        fake = bot.fake
        await bot.reply(await fake.slash("veo", {"prompt": "a kite"}))
        job = await bot.started()
        thread = bot.thread_of(job)
        fake.rate_limit("POST", f"/channels/{thread}/messages", retry_after=0.05, times=2)
        _finish_at_provider(bot, job)

        done = await bot.finished(job)
        assert done.state is JobState.DELIVERED
        posts = fake.calls("POST", f"/channels/{thread}/messages")
        assert [c.status for c in posts] == [429, 429, 200]
        assert len([m for m in fake.bot_messages_in(thread) if m.videos]) == 1


def _finish_at_provider(bot: DiscordBot, job: Job) -> None:
    """The provider finishes the job: its next reading is a success."""
    assert job.provider_job_id is not None
    bot.provider.jobs[job.provider_job_id].readings = [SUCCEEDED]


# --- the buttons under a video ------------------------------------------------------------


async def test_re_roll_makes_a_new_job_charged_to_whoever_clicked(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        await bot.reply(await fake.slash("veo", {"prompt": "a paper boat", "seed": 7}))
        first = await bot.finished(await bot.next_job())
        video = await bot.video_message(first)
        colleague = fake.add_user("colleague")

        click = await fake.click(video, "Re-roll", user=colleague)
        reply = await bot.reply(click)
        second = await bot.finished(await bot.next_job(1))

        assert f"Queued as job `{second.id}`" in reply
        assert second.origin.user_id == str(colleague.id)
        assert second.request.prompt == "a paper boat"
        assert second.request.seed is not None and second.request.seed != 7
        assert await bot.ledger(second) == "settled"
        # Clicked in the thread, so the new card and video stay in that thread.
        assert second.origin.thread_id == str(bot.thread_of(first))
        videos = [m for m in fake.bot_messages_in(bot.thread_of(first)) if m.videos]
        assert len(videos) == 2 and videos[1].videos[0].filename == f"veo-{second.id}.mp4"
        assert len(fake.threads()) == 1


async def test_delete_is_for_the_requester_or_an_admin_only(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        author = fake.add_user("author")
        stranger = fake.add_user("stranger")
        moderator = fake.add_user("moderator", permissions=MEMBER_PERMISSIONS | MANAGE_GUILD)
        jobs: list[Job] = []
        for prompt in ("a red balloon", "a blue balloon"):
            await bot.reply(await fake.slash("veo", {"prompt": prompt}, user=author))
            jobs.append(await bot.finished(await bot.next_job(len(jobs))))
        mine, other = [await bot.video_message(job) for job in jobs]

        refused = await fake.click(mine, "Delete", user=stranger)
        assert await bot.reply(refused) == (
            f"Only <@{author.id}>, who asked for this video, or an admin can delete it."
        )
        assert not mine.deleted

        deleted = await fake.click(mine, "Delete", user=author)
        assert await bot.reply(deleted) == "Deleted."
        assert mine.deleted
        by_admin = await fake.click(other, "Delete", user=moderator)
        assert await bot.reply(by_admin) == "Deleted."
        assert other.deleted


async def test_extend_asks_for_what_happens_next_and_continues_the_video(
    store: SqliteStore, tmp_path: Path
) -> None:
    gemini = ScriptedProvider(video=sample_mp4())
    gemini.name = "gemini"
    async with running_bot(store, tmp_path, providers={"gemini": gemini}) as bot:
        fake = bot.fake
        asked = await fake.slash(
            "veo", {"prompt": "a wave rolls in", "model": "gemini/gemini-omni-1.1-flash"}
        )
        await bot.reply(asked)
        first = await bot.finished(await bot.next_job())
        video = await bot.video_message(first)

        opened = await fake.click(video, "Extend")
        await fake.wait_for(lambda: opened.callbacks)
        assert opened.modal is not None
        submitted = await fake.submit_modal(opened, {"prompt": "it crashes on the rocks"})
        assert "Queued" in await bot.reply(submitted)
        second = await bot.finished(await bot.next_job(1))

        request = gemini.jobs[str(second.provider_job_id)].request
        assert request.prompt == "it crashes on the rocks"
        assert request.source_video == first.result_url


# --- where things go ----------------------------------------------------------------------


async def test_veo_inside_a_thread_keeps_everything_in_that_thread(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        fake = await stack.enter_async_context(FakeDiscord())
        ideas = fake.add_thread("ideas")
        bot = await stack.enter_async_context(running_bot(store, tmp_path, fake=fake))

        await bot.reply(await fake.slash("veo", {"prompt": "a lighthouse"}, channel_id=ideas))
        done = await bot.finished(await bot.next_job())

        assert fake.bot_messages_in(fake.channel_id) == []
        card, video = fake.bot_messages_in(ideas)
        assert "a lighthouse" in card.text() and video.videos
        assert len(fake.threads()) == 1
        assert done.origin.thread_id == str(ideas)


async def test_animate_with_veo_on_a_message_puts_the_video_in_that_messages_thread(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        artist = fake.add_user("artist")
        picture = fake.upload(PNG, "harbour.png", "image/png")
        post = fake.post_as(artist, "my harbour sketch", attachments=[picture])

        opened = await fake.message_command("Animate with Veo", post)
        await fake.wait_for(lambda: opened.callbacks)
        assert opened.modal is not None and opened.modal["title"] == "Animate with Veo"
        submitted = await fake.submit_modal(
            opened, {"prompt": "boats bob on the water", "duration": "4", "seed": "9"}
        )
        assert "Queued" in await bot.reply(submitted)
        done = await bot.finished(await bot.next_job())

        request = bot.request_of(done)
        assert request.first_frame is not None and request.first_frame.data == PNG
        assert (request.prompt, request.duration_s, request.seed) == (
            "boats bob on the water",
            4,
            9,
        )
        [thread] = fake.threads()
        assert int(thread["id"]) == post.id  # opened on the artist's message
        card, video = fake.bot_messages_in(post.id)
        assert "boats bob on the water" in card.text() and video.videos


async def test_animate_with_veo_on_a_message_without_an_image_says_so(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        post = fake.post_as(fake.owner, "just words")
        asked = await fake.message_command("Animate with Veo", post)

        assert "That message holds no image" in await bot.reply(asked)
        assert await bot.jobs() == []


async def test_autocomplete_offers_the_durations_of_the_chosen_model(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        durations = await fake.autocomplete(
            "veo", "duration", "", {"prompt": "x", "model": "scripted/scripted-1"}
        )
        assert [c["value"] for c in durations] == [4, 6, 8]
        models = await fake.autocomplete("veo", "model", "scrip", {"prompt": "x"})
        assert [c["value"] for c in models] == ["scripted/scripted-1"]
        ratios = await fake.autocomplete(
            "veo", "aspect_ratio", "9", {"prompt": "x", "model": "scripted/scripted-1"}
        )
        assert [c["value"] for c in ratios] == ["9:16"]


# --- time, restarts and the gateway -------------------------------------------------------


async def test_a_video_taking_longer_than_the_interaction_token_still_arrives(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider([RUNNING])
    async with running_bot(store, tmp_path, provider=provider) as bot:
        fake = bot.fake
        await bot.reply(await fake.slash("veo", {"prompt": "a slow sunrise"}))
        job = await bot.started()
        fake.advance(20 * 60)  # the interaction token died 5 minutes ago
        _finish_at_provider(bot, job)

        done = await bot.finished(job)
        assert done.state is JobState.DELIVERED
        assert (await bot.video_message(done)).videos
        assert fake.calls("POST", "/webhooks/*") == []  # no follow-up on the dead token


async def test_a_restart_mid_delivery_posts_the_video_once(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider([RUNNING], video=sample_mp4())
    async with FakeDiscord() as fake:
        async with running_bot(store, tmp_path, fake=fake, provider=provider) as bot:
            await bot.reply(await fake.slash("veo", {"prompt": "a comet"}))
            job = await bot.started()
            thread = bot.thread_of(job)
            # Discord stores the video, but the answer never reaches the bot: it dies first.
            held = fake.hold("POST", f"/channels/{thread}/messages")
            _finish_at_provider(bot, job)
            await asyncio.wait_for(held.reached.wait(), 10)
            await bot.scheduler.stop(grace_s=0)
        held.release()
        assert (await store.get_job(job.id)).state is JobState.DELIVERING  # type: ignore[union-attr]

        async with running_bot(store, tmp_path, fake=fake, provider=provider) as again:
            done = await again.finished(job)

        assert done.state is JobState.DELIVERED
        videos = [m for m in fake.bot_messages_in(thread) if m.videos]
        assert len(videos) == 1 and done.delivery_refs == DiscordRefs(
            channel_id=str(thread), message_id=str(videos[0].id)
        )
        assert fake.identifies == 2


async def test_a_gateway_reconnect_mid_job_resumes_and_misses_nothing(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider([RUNNING])
    async with running_bot(store, tmp_path, provider=provider) as bot:
        fake = bot.fake
        await bot.reply(await fake.slash("veo", {"prompt": "a tide pool"}))
        job = await bot.started()

        await fake.reconnect()
        asked = await fake.slash("veo", {"prompt": "a second tide pool"})
        assert "Queued" in await bot.reply(asked)
        second = await bot.started(1)
        _finish_at_provider(bot, job)
        _finish_at_provider(bot, second)
        done = [await bot.finished(job), await bot.finished(second)]

        assert [d.state for d in done] == [JobState.DELIVERED, JobState.DELIVERED]
        assert fake.resumes == 1 and fake.identifies == 1
        assert fake.connections[-1][0] == "/resume"


# --- /veo-admin ---------------------------------------------------------------------------


async def test_admins_steer_quotas_blocks_and_banned_words_and_nobody_else_can(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        member = fake.add_user("member")
        moderator = fake.add_user("moderator", permissions=MEMBER_PERMISSIONS | MANAGE_GUILD)
        listed = fake.add_user("listed")  # no Manage Server, but named in VEO_ADMINS
        bot.adapter._commands.admin.admins = Admins([f"discord:{listed.id}"])

        async def admin(action: str, options: dict[str, object], user: User) -> str:
            asked = await fake.slash(f"veo-admin {action}", options, user=user)
            text = await bot.reply(asked)
            assert asked.callbacks[0]["data"]["flags"] & EPHEMERAL
            return text

        workspace = f"discord:{fake.guild_id}"
        refused: list[tuple[str, dict[str, object]]] = [
            ("limits", {"user": member, "daily": 4}),
            ("limits", {"monthly": 1}),
            ("clear", {"user": member}),
            ("reset", {"user": member}),
            ("block", {"user": member}),
            ("unblock", {"user": member}),
            ("usage", {}),
            ("ban", {"term": "fireworks"}),
            ("unban", {"term": "fireworks"}),
            ("banned", {}),
        ]
        for action, options in refused:
            assert "Only this server's admins" in await admin(action, options, member)
        assert (
            await store.effective_limits(
                f"{workspace}:{member.id}", workspace, bot.service.config.limits
            )
            == bot.service.config.limits
        )
        assert await store.banned_terms(workspace) == []

        said = await admin("limits", {"user": member, "daily": 4, "concurrent": 1}, moderator)
        assert said == f"Limits set for <@{member.id}>: 4 s a day, 1 at a time."
        limits = await store.effective_limits(
            f"{workspace}:{member.id}", workspace, bot.service.config.limits
        )
        assert (limits.user_daily_s, limits.user_concurrent) == (4, 1)
        said = await admin("limits", {"monthly": 600}, listed)
        assert said == "Limits set for this server: 600 s a month."
        assert "The monthly limit belongs to a workspace" in await admin(
            "limits", {"user": member, "monthly": 5}, moderator
        )
        assert await admin("ban", {"term": "Fireworks"}, moderator) == "Banned on this server."
        assert "not a valid regular expression" in await admin("ban", {"term": "re:("}, listed)
        assert await admin("banned", {}, moderator) == "Banned here: `Fireworks`"

        # A member's prompt with a banned word: refused without repeating the word.
        refusal = await bot.reply(await fake.slash("veo", {"prompt": "FIREWORKS over the bay"}))
        assert "does not allow" in refusal and "fireworks" not in refusal.lower()
        # Over the member's 4 s: refused, naming the daily limit.
        over = await bot.reply(await fake.slash("veo", {"prompt": "a bay"}, user=member))
        assert "of your daily quota" in over

        assert await admin("block", {"user": member}, moderator) == f"<@{member.id}> blocked."
        blocked = await bot.reply(
            await fake.slash("veo", {"prompt": "a bay", "duration": 4}, user=member)
        )
        assert "You are not allowed to make videos here" in blocked
        assert await admin("unblock", {"user": member}, moderator) == f"<@{member.id}> unblocked."
        assert "cleared" in await admin("clear", {"user": member}, moderator)
        assert await bot.jobs() == []
        assert await admin("usage", {}, moderator) == "No videos this month yet."

        await bot.reply(await fake.slash("veo", {"prompt": "a bay", "duration": 4}, user=member))
        await bot.finished(await bot.next_job())
        report = await admin("usage", {}, moderator)
        assert f"<@{member.id}>: 4 s in 1 job(s)" in report


async def test_a_server_admin_cannot_lift_the_operators_limits_or_reset_their_own_day(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path, limits=QuotaLimits(8, 2, 0)) as bot:
        fake = bot.fake
        member = fake.add_user("member")
        moderator = fake.add_user("moderator", permissions=MEMBER_PERMISSIONS | MANAGE_GUILD)
        operator = fake.add_user("operator")  # named in VEO_ADMINS
        bot.adapter._commands.admin.admins = Admins([f"discord:{operator.id}"])
        workspace = f"discord:{fake.guild_id}"

        async def admin(action: str, options: dict[str, object], user: User) -> str:
            return await bot.reply(await fake.slash(f"veo-admin {action}", options, user=user))

        async def quota(user: User) -> str:
            return await bot.reply(await fake.slash("veo-quota", user=user))

        await bot.reply(await fake.slash("veo", {"prompt": "a bay", "duration": 8}, user=moderator))
        await bot.finished(await bot.next_job())
        # What a server admin tries, each through /veo-admin, as Discord would deliver it if a
        # modified client got past the option's own bounds.
        attempts: list[tuple[str, dict[str, object], str]] = [
            ("limits", {"daily": 1e9}, "daily must be a number from 0 to 1,000,000 seconds"),
            ("limits", {"daily": 20}, "You can set daily up to 8 s a day here"),
            ("limits", {"user": moderator, "daily": 9}, "You can set daily up to 8 s a day"),
            ("limits", {"user": member, "concurrent": 3}, "You can set concurrent up to 2"),
            ("limits", {"daily": float("nan")}, "daily must be a number from 0 to 1,000,000"),
            ("limits", {"daily": float("inf")}, "daily must be a number from 0 to 1,000,000"),
            ("limits", {"monthly": -1}, "monthly must be a number from 0 to 1,000,000"),
            ("limits", {"user": member, "daily": -1}, "daily must be a number"),
            ("reset", {"user": moderator}, "Nobody resets their own day"),
        ]
        for action, options, refusal in attempts:
            said = await admin(action, options, moderator)
            assert refusal in said, (options, said)
        assert await store.overrides() == []
        assert "used 8 s of video out of 8 s: 0 s left" in await quota(moderator)
        over = await bot.reply(
            await fake.slash("veo", {"prompt": "a bay", "duration": 4}, user=moderator)
        )
        assert "of your daily quota" in over  # the day was not reset

        # The operator may go higher; the server admin may then share out up to that.
        said = await admin("limits", {"user": member, "daily": 40}, operator)
        assert said == f"Limits set for <@{member.id}>: 40 s a day."
        said = await admin("limits", {"user": member, "daily": 30}, moderator)
        assert said == f"Limits set for <@{member.id}>: 30 s a day."
        assert "up to 40 s a day" in await admin("limits", {"user": member, "daily": 41}, moderator)
        assert "out of 30 s" in await quota(member)
        # Nobody resets their own day, the bot's own admins included; others' days, yes.
        assert "Nobody resets" in await admin("reset", {"user": operator}, operator)
        said = await admin("reset", {"user": moderator}, operator)
        assert said == f"Today starts afresh for <@{moderator.id}>."
        rows = await store.overrides()
        assert [(r.subject, r.set_by, r.daily_s) for r in rows] == [
            (f"{workspace}:{member.id}", "operator", 40),
            (f"{workspace}:{member.id}", "workspace_admin", 30),
        ]
        # A server admin clears their own limits; the operator's stay.
        said = await admin("clear", {"user": member}, moderator)
        assert said == f"Limits for <@{member.id}> cleared; the operator's apply again."
        assert "out of 40 s" in await quota(member)


# --- acknowledgement and permissions ------------------------------------------------------


async def test_the_acknowledgement_does_not_wait_for_a_locked_database(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        fake = await stack.enter_async_context(FakeDiscord(ack_deadline_s=0.5))
        bot = await stack.enter_async_context(running_bot(store, tmp_path, fake=fake))
        # Another writer holds the database for longer than Discord waits for an answer.
        other = sqlite3.connect(tmp_path / "veo.db", isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            asked = await fake.slash("veo", {"prompt": "a snow globe"})
            await fake.wait_for(lambda: asked.callbacks)
            assert asked.acked_after_s is not None and asked.acked_after_s < 0.5
            assert asked.reply_text() == ""  # still thinking: the job is not recorded yet
        finally:
            other.execute("COMMIT")
            other.close()
        assert "Queued" in await bot.reply(asked)
        done = await bot.finished(await bot.next_job())
        assert done.state is JobState.DELIVERED


async def test_a_channel_where_the_bot_cannot_attach_files_is_refused_up_front(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        fake.bot.permissions = MEMBER_PERMISSIONS & ~ATTACH_FILES
        reply = await bot.reply(await fake.slash("veo", {"prompt": "a kite"}))

        assert "I need the Attach Files permission in this channel" in reply
        assert await bot.jobs() == []


async def test_buttons_under_a_video_keep_working_after_a_restart(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with FakeDiscord() as fake:
        async with running_bot(store, tmp_path, fake=fake) as bot:
            await bot.reply(await fake.slash("veo", {"prompt": "a windmill"}))
            first = await bot.finished(await bot.next_job())
            video = await bot.video_message(first)

        async with running_bot(store, tmp_path, fake=fake) as again:
            click = await fake.click(video, "Re-roll")
            assert "Queued" in await again.reply(click)
            second = await again.finished(await again.next_job(1))

        assert second.request.prompt == "a windmill" and second.state is JobState.DELIVERED
        assert fake.identifies == 2


RETIRED_SENTENCE = (
    "Veo 3.1 Fast (veo-3.1-fast-generate-preview) was retired by Google on 2026-10-22; "
    "use gemini-omni-1.1-flash instead."
)


async def test_a_retired_model_is_refused_typed_or_re_rolled_and_never_offered(
    store: SqliteStore, tmp_path: Path
) -> None:
    gemini = ScriptedProvider(video=sample_mp4())
    async with FakeDiscord() as fake:
        # A video made while Google still served Veo 3.1 Fast on the Gemini API.
        async with running_bot(
            store, tmp_path, fake=fake, providers={"gemini": gemini}, unretired=("gemini",)
        ) as before:
            model = "gemini/veo-3.1-fast-generate-preview"
            await before.reply(await fake.slash("veo", {"prompt": "a windmill", "model": model}))
            old = await before.finished(await before.next_job())
            assert (old.model, old.state) == ("veo-3.1-fast-generate-preview", JobState.DELIVERED)
            video = await before.video_message(old)

        async with running_bot(store, tmp_path, fake=fake, providers={"gemini": gemini}) as bot:
            rerolled = await bot.reply(await fake.click(video, "Re-roll"))
            typed = await bot.reply(await fake.slash("veo", {"prompt": "a fox", "model": model}))
            offered = await fake.autocomplete("veo", "model", "", {"prompt": "x"})

        assert rerolled == typed == RETIRED_SENTENCE
        assert [job.id for job in await bot.jobs()] == [old.id]  # nothing new, nothing charged
        assert len(gemini.submits) == 1
        values = [c["value"] for c in offered]
        assert "gemini/gemini-omni-1.1-flash" in values
        assert not [v for v in values if v.startswith("gemini/veo-")]


async def test_a_wrong_token_is_a_configuration_error_that_does_not_echo_it(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with FakeDiscord() as fake:
        adapter = create_adapter(settings_for(fake, discord_token="not-the-token"))
        service = make_service(
            store,
            tmp_path,
            providers={"scripted": ScriptedProvider()},
            surfaces={"discord": adapter.surface},
        )
        try:
            with pytest.raises(ConfigurationError) as refused:
                await adapter.start(service)
        finally:
            await adapter.close()
        assert "DISCORD_TOKEN" in str(refused.value)
        assert "not-the-token" not in str(refused.value)
        fake.violations.clear()  # the unauthorized call was the point


async def test_a_restart_while_the_card_was_being_posted_uses_that_card(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with FakeDiscord() as fake:
        async with running_bot(store, tmp_path, fake=fake) as bot:
            # Discord shows the card, but the answer never reaches the bot: it dies first.
            held = fake.hold("POST", f"/channels/{fake.channel_id}/messages")
            await bot.reply(await fake.slash("veo", {"prompt": "a paper lantern"}))
            await asyncio.wait_for(held.reached.wait(), 10)
            await bot.scheduler.stop(grace_s=0)
            job = await bot.next_job()
        held.release()
        assert job.origin.refs == DiscordRefs() and job.state is JobState.PENDING

        async with running_bot(store, tmp_path, fake=fake) as again:
            done = await again.finished(job)

        assert done.state is JobState.DELIVERED
        [card] = fake.bot_messages_in(fake.channel_id)
        assert "a paper lantern" in card.text() and "Done" in card.text()
        assert card_refs(done).status_message_id == str(card.id)
        [video] = [m for m in fake.bot_messages_in(card.id) if m.videos]
        assert video.videos[0].filename == f"veo-{job.id}.mp4"
