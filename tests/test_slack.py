"""The Slack adapter end to end against a fake Slack: signed commands, interactions and events
in; status cards, progress, the MP4 in the thread and the buttons out, over HTTP events and
Socket Mode, with the real core, store and scheduler. Assertions are on what the fake holds."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import adapters.slack
from adapters.slack import EVENTS_PATH, create_adapter
from bot.app import ChatAdapter
from bot.clock import Clock
from bot.errors import ConfigurationError
from bot.jobs import JobService
from bot.models import (
    GenerationRequest,
    Job,
    JobState,
    Origin,
    ProviderJobState,
    ProviderStatus,
    QuotaLimits,
)
from bot.ports import VideoProvider
from bot.refs import SlackRefs
from bot.scheduler import Scheduler
from bot.settings import Settings
from storage.sqlite import SqliteStore
from tests.fakes._base import Fault, sample_mp4
from tests.fakes.slack import (
    BOT_TOKEN,
    BOT_USER_ID,
    TEAM_ID,
    BotReply,
    FakeSlack,
    Message,
    checkbox_value,
    files_value,
    number_value,
    select_value,
    text_value,
)
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


# --- the ways in ------------------------------------------------------------------------


async def test_a_text_prompt_makes_a_video_in_the_thread_of_its_status_card(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider(
        [
            ProviderStatus(ProviderJobState.RUNNING, progress=10),
            ProviderStatus(ProviderJobState.RUNNING, progress=40),
            ProviderStatus(ProviderJobState.RUNNING, progress=70),
            SUCCEEDED,
        ],
        video=sample_mp4(),
    )
    async with running_bot(store, tmp_path, provider=provider) as bot:
        started = time.monotonic()
        reply = await bot.command("a fox runs through snow")
        assert (reply.status, reply.body) == (200, "")
        assert time.monotonic() - started < 3  # Slack's limit for the acknowledgement
        done = await bot.finished(await bot.next_job())

        assert done.state is JobState.DELIVERED
        assert bot.request_of(done).prompt == "a fox runs through snow"
        fake = bot.fake
        [card] = fake.channel("C1")
        assert card == card_of(fake, done)
        assert "a fox runs through snow" in card.all_text and done.id in card.all_text
        # Progress went through chat.update, throttled to one per 3 s; then "done".
        texts = [update["text"] for update in card.updates]
        assert len(texts) == 2 and "10%" in texts[0] and "done" in texts[1]
        [share, result] = fake.replies("C1", card.ts)
        [video] = share.files
        assert video.data == provider.video and video.name == f"veo-{done.id}.mp4"
        assert video.mimetype == "video/mp4" and "a fox runs through snow" in share.text
        assert result.button("veo_reroll")["value"] == done.id
        assert result.button("veo_delete")["value"] == done.id
        assert "scripted-1" in result.all_text and "left today" in result.all_text
        assert done.delivery_refs == SlackRefs(
            file_id=video.id, result_ts=result.ts, thread_ts=card.ts
        )
        # upload v2, the way Slack documents it
        [asked] = fake.calls_to("files.getUploadURLExternal")
        assert asked["filename"] == video.name and asked["length"] == str(len(video.data))
        [completed] = fake.calls_to("files.completeUploadExternal")
        assert (completed["channel_id"], completed["thread_ts"]) == ("C1", card.ts)
        assert json.loads(completed["files"]) == [{"id": video.id, "title": video.title}]
        assert await bot.ledger(done) == "settled"
        assert all(call.token == BOT_TOKEN for call in fake.calls)


async def test_a_job_waiting_in_the_providers_queue_says_how_many_are_ahead(
    store: SqliteStore, tmp_path: Path
) -> None:
    queued = ProviderStatus(ProviderJobState.QUEUED, queue_position=3)
    provider = ScriptedProvider([queued, SUCCEEDED], video=sample_mp4())
    async with running_bot(store, tmp_path, provider=provider) as bot:
        await bot.command("a fox runs through snow")
        done = await bot.finished(await bot.next_job())

        card = card_of(bot.fake, done)
        first, *_ = [update["text"] for update in card.updates]
        assert first.endswith("⏳ Queued at the provider — 3 ahead…")
        assert done.state is JobState.DELIVERED and "ahead" not in card.all_text


async def test_a_prompt_with_the_word_payload_is_still_a_command(
    store: SqliteStore, tmp_path: Path
) -> None:
    # slack-bolt alone would read this form as an interaction and leave it unanswered.
    async with running_bot(store, tmp_path) as bot:
        reply = await bot.command("the payload bay of a shuttle opens")
        assert (reply.status, reply.body) == (200, "")

        job = await bot.next_job()
        assert job.request.prompt == "the payload bay of a shuttle opens"


async def test_help_lists_the_models_of_the_catalog(store: SqliteStore, tmp_path: Path) -> None:
    async with running_bot(store, tmp_path) as bot:
        reply = await bot.command("help")

        assert reply.json()["response_type"] == "ephemeral"
        text = reply.json()["text"]
        assert "`scripted-1` (default)" in text and "4, 6, 8 s" in text and "/veo quota" in text
        assert await bot.jobs() == []


async def test_quota_tells_what_is_left_only_to_the_asker(
    store: SqliteStore, tmp_path: Path
) -> None:
    limits = QuotaLimits(user_daily_s=20, user_concurrent=2, workspace_monthly_s=0)
    async with running_bot(store, tmp_path, limits=limits) as bot:
        await bot.command("a fox")
        await bot.finished(await bot.next_job())
        reply = await bot.command("quota")
        assert (reply.status, reply.body) == (200, "")

        [answer] = await bot.fake.wait_for(lambda: bot.fake.responses)
        assert answer["response_type"] == "ephemeral"
        assert "used *8 s* of video out of 20 s" in answer["text"]
        assert "*12 s left*" in answer["text"]


async def test_admins_steer_quotas_and_banned_words_and_nobody_else_can(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:

        async def answer(text: str, user: str) -> str:
            seen = len(bot.fake.responses)
            await bot.command(text, user=user)
            replies = await bot.fake.wait_for(
                lambda: bot.fake.responses if len(bot.fake.responses) > seen else None
            )
            return str(replies[-1]["text"])

        for action in (
            "limits <@U1|one> daily=4",
            "limits workspace monthly=1",
            "clear <@U1|one>",
            "reset <@U1|one>",
            "block <@U1|one>",
            "unblock <@U1|one>",
            "usage",
            "ban fireworks",
            "unban fireworks",
            "banned",
        ):
            assert "Only the bot's admins" in await answer(f"admin {action}", user="U1")
        assert await bot.service.store.banned_terms(f"slack:{TEAM_ID}") == []
        assert (await bot.service.quota_report(origin_of("U1"))).daily_limit_s == 1000
        assert (
            await answer("admin limits <@U1|one> daily=4", user="UADMIN")
            == "Limits set for <@U1>: 4 s a day."
        )
        assert (await bot.service.quota_report(origin_of("U1"))).daily_limit_s == 4
        assert await answer("admin ban fireworks", user="UADMIN") == "Banned in this workspace."
        assert await answer("admin banned", user="UADMIN") == "Banned here: `fireworks`"
        assert "not a valid regular expression" in await answer("admin ban re:(", user="UADMIN")
        assert await answer("admin block U2", user="UADMIN") == "<@U2> blocked."
        assert "limits @user" in await answer("admin", user="UADMIN")
        refusal = await answer("Fireworks over the bay", user="U3")
        assert "does not allow" in refusal and "fireworks" not in refusal.lower()
        assert await bot.jobs() == []


async def test_limits_that_are_not_sane_numbers_and_resetting_ones_own_day_are_refused(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:

        async def answer(text: str, user: str = "UADMIN") -> str:
            seen = len(bot.fake.responses)
            await bot.command(text, user=user)
            replies = await bot.fake.wait_for(
                lambda: bot.fake.responses if len(bot.fake.responses) > seen else None
            )
            return str(replies[-1]["text"])

        for limits, refusal in (
            ("daily=nan", "daily must be a number from 0 to 1,000,000 seconds, not nan."),
            ("daily=inf", "daily must be a number from 0 to 1,000,000 seconds, not inf."),
            ("daily=-1", "daily must be a number from 0 to 1,000,000 seconds, not -1."),
            ("daily=1e9", "daily must be a number from 0 to 1,000,000 seconds, not 1e+09."),
            ("concurrent=inf", "concurrent takes a whole number, not 'inf'."),
            ("concurrent=1e9", "concurrent takes a whole number, not '1e9'."),
            ("concurrent=5000", "concurrent must be a number from 0 to 1,000 videos at a time"),
        ):
            assert refusal in await answer(f"admin limits <@U1|one> {limits}"), limits
        assert "monthly must be a number" in await answer("admin limits workspace monthly=NaN")
        assert "Nobody resets their own day" in await answer("admin reset <@UADMIN|me>")
        assert await store.overrides() == []
        assert (await bot.service.quota_report(origin_of("U1"))).daily_limit_s == 1000

        # The bot's own admins speak as the operator: above the defaults is theirs to allow.
        said = await answer("admin limits <@U1|one> daily=2000")
        assert said == "Limits set for <@U1>: 2000 s a day."
        assert (await bot.service.quota_report(origin_of("U1"))).daily_limit_s == 2000
        assert await answer("admin reset <@U1|one>") == "Today starts afresh for <@U1>."


def origin_of(user: str) -> Origin:
    return Origin(platform="slack", workspace_id=TEAM_ID, channel_id="C1", user_id=user)


async def test_the_form_with_a_first_frame_sends_every_setting_to_the_provider(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        reply = await bot.command("", user="U2")
        assert (reply.status, reply.body) == (200, "")
        view = await bot.opened_view()
        blocks = {b.get("block_id") for b in view["blocks"]}
        assert {"prompt", "image", "end_image", "model", "duration", "aspect_ratio"} <= blocks
        assert {"seed", "negative_prompt"} <= blocks
        picture = fake.add_file(PNG, "cat.png", user="U2")

        reply = await bot.interact(
            fake.view_submission_payload(
                view,
                {
                    "prompt": text_value("a cat yawns"),
                    "image": files_value(fake.file_json(picture)),
                    "duration": select_value("4"),
                    "aspect_ratio": select_value("9:16"),
                    "seed": number_value("42"),
                    "negative_prompt": text_value("blur"),
                },
                user="U2",
            )
        )
        assert (reply.status, reply.body) == (200, "")  # the modal closes
        done = await bot.finished(await bot.next_job())

        request = bot.request_of(done)
        assert request.first_frame is not None and request.first_frame.data == PNG
        assert (request.duration_s, request.aspect_ratio, request.seed) == (4, "9:16", 42)
        assert request.negative_prompt == "blur" and request.prompt == "a cat yawns"
        assert done.origin.user_id == "U2"
        [card] = fake.channel("C1")
        [video] = fake.videos("C1", card.ts)
        assert video.data == bot.provider.video
        # the picture was fetched from url_private with the bot token
        [fetch] = [r for r in fake.requests if r.path.startswith("/files-pri/")]
        assert fetch.headers["Authorization"] == f"Bearer {BOT_TOKEN}"


async def test_a_form_file_named_only_by_id_is_looked_up_with_files_info(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        await bot.command("")
        view = await bot.opened_view()
        picture = fake.add_file(PNG, "cat.png")
        answers = {"prompt": text_value("a cat"), "image": files_value({"id": picture.id})}

        assert (await bot.interact(fake.view_submission_payload(view, answers))).body == ""
        done = await bot.finished(await bot.next_job())

        assert fake.calls_to("files.info") == [{"file": picture.id}]
        first_frame = bot.request_of(done).first_frame
        assert first_frame is not None and first_frame.data == PNG


async def test_the_form_offers_every_providers_live_models_and_sound_where_a_model_has_it(
    store: SqliteStore, tmp_path: Path
) -> None:
    gateway = ScriptedProvider(video=sample_mp4())
    # The gateway's models take 5,000-character prompts; Slack's text input stops at 3,000.
    providers: dict[str, VideoProvider] = {
        "scripted": ScriptedProvider(),
        "useapi": ScriptedProvider(),  # every model retired: none is offered
        "gemini": ScriptedProvider(),
        "gateway": gateway,
    }
    async with running_bot(store, tmp_path, providers=providers, gateway_dialect="veo31") as bot:
        await bot.command("")
        view = await bot.opened_view()
        model = next(b for b in view["blocks"] if b.get("block_id") == "model")
        values = [option["value"] for option in model["element"]["options"]]
        assert values[0] == "scripted/scripted-1" and "gateway/veo3.1-video-720p" in values
        assert "gemini/gemini-omni-1.1-flash" in values
        assert not [v for v in values if v.startswith("useapi/") or "/veo-" in v]
        assert model["element"]["initial_option"]["value"] == "scripted/scripted-1"

        answers = {
            "prompt": text_value("thunder over the sea"),
            "model": select_value("gateway/veo3.1-video-720p"),
            "audio": checkbox_value("on"),
        }
        reply = await bot.interact(bot.fake.view_submission_payload(view, answers))
        assert reply.body == ""
        done = await bot.finished(await bot.next_job())

        assert (done.provider, done.model) == ("gateway", "veo3.1-video-720p")
        assert done.provider_job_id is not None
        assert gateway.jobs[done.provider_job_id].request.audio is True


async def test_a_text_prompt_opens_the_form_when_the_model_needs_an_image(
    store: SqliteStore, tmp_path: Path
) -> None:
    # useapi's default model (Veo 2) animates an image and takes no text alone (its API is
    # retired; taken as live here for a default model that needs an image).
    async with running_bot(
        store,
        tmp_path,
        providers={"useapi": ScriptedProvider()},
        default_provider="useapi",
        unretired=("useapi",),
    ) as bot:
        reply = await bot.command("a kite over the dunes")
        assert (reply.status, reply.body) == (200, "")

        view = await bot.opened_view()
        prompt = next(b for b in view["blocks"] if b.get("block_id") == "prompt")
        assert prompt["element"]["initial_value"] == "a kite over the dunes"
        model = next(b for b in view["blocks"] if b.get("block_id") == "model")
        assert model["element"]["initial_option"]["value"] == "useapi/veo2"
        assert await bot.jobs() == []


async def test_the_message_shortcut_animates_the_messages_image_into_its_thread(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        logo = fake.add_file(PNG, "logo.png", user="U3")
        original = fake.add_message("C1", "our new logo", user="U3", files=[logo])
        reply = await bot.interact(fake.shortcut_payload(original, user="U5"))
        assert (reply.status, reply.body) == (200, "")

        view = await bot.opened_view()
        assert "logo.png" in json.dumps(view["blocks"])
        assert "image" not in {b.get("block_id") for b in view["blocks"]}
        payload = fake.view_submission_payload(
            view, {"prompt": text_value("the logo spins")}, user="U5"
        )
        assert (await bot.interact(payload)).body == ""
        done = await bot.finished(await bot.next_job())

        first_frame = bot.request_of(done).first_frame
        assert first_frame is not None and first_frame.data == PNG
        assert fake.channel("C1") == [original]  # everything went into its thread
        [card, share, result] = fake.replies("C1", original.ts)
        assert card == card_of(fake, done) and "<@U5>" in card.all_text
        assert [f.data for f in share.files] == [bot.provider.video]
        assert result == result_of(fake, done)


async def test_a_mention_with_an_image_in_a_thread_answers_in_that_thread(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        root = fake.add_message("C2", "ideas for the launch")
        sky = fake.add_file(PNG, "sky.png", user="U4")
        mention = fake.add_message(
            "C2", f"<@{BOT_USER_ID}> make it rain", user="U4", files=[sky], thread_ts=root.ts
        )
        reply = await bot.mention(mention, event_id="Ev01")
        assert reply.status == 200
        done = await bot.finished(await bot.next_job())

        request = bot.request_of(done)
        assert request.prompt == "make it rain"
        assert request.first_frame is not None and request.first_frame.data == PNG
        assert fake.channel("C2") == [root]
        [video] = fake.videos("C2", root.ts)
        assert video.data == bot.provider.video
        assert card_of(fake, done).thread_ts == root.ts


async def test_a_login_page_instead_of_the_image_is_refused_as_not_an_image(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        elsewhere = fake.add_file(PNG, "photo.png", readable=False)
        mention = fake.add_message("C2", f"<@{BOT_USER_ID}> animate", files=[elsewhere])
        await bot.mention(mention, event_id="Ev02")

        [whisper] = await fake.wait_for(lambda: fake.ephemerals)
        assert whisper["text"] == "photo.png is not a PNG, JPEG or WebP image."
        assert (whisper["user"], whisper["thread_ts"]) == ("U1", mention.ts)
        assert await bot.jobs() == [] and bot.provider.submits == []


async def test_the_app_manifest_names_what_the_bot_answers(
    store: SqliteStore, tmp_path: Path
) -> None:
    manifest = json.loads((Path(adapters.slack.__file__).parent / "manifest.json").read_text())
    features, settings = manifest["features"], manifest["settings"]
    [command] = features["slash_commands"]
    [shortcut] = features["shortcuts"]
    urls = {
        command["url"],
        settings["event_subscriptions"]["request_url"],
        settings["interactivity"]["request_url"],
    }
    assert {url.removeprefix("https://veo-bot.example.com") for url in urls} == {EVENTS_PATH}
    assert settings["event_subscriptions"]["bot_events"] == ["app_mention"]
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "files:read", "files:write", "channels:history"} <= scopes

    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        payload = fake.command_payload("help", command=command["command"])
        assert "*Models*" in (await fake.send_command(bot.events_url, payload)).json()["text"]
        plain = fake.add_message("C1", "no picture here")
        await bot.interact(fake.shortcut_payload(plain, callback_id=shortcut["callback_id"]))
        [answer] = await fake.wait_for(lambda: fake.responses)
        assert "holds no image" in answer["text"] and fake.views == []


# --- what Slack must not be able to make the bot do --------------------------------------


@pytest.mark.parametrize(
    "signing",
    [{"secret": "not-the-signing-secret"}, {"timestamp": time.time() - 6 * 60}],
    ids=["bad signature", "stale timestamp"],
)
async def test_a_request_not_signed_by_slack_now_is_refused_and_does_nothing(
    store: SqliteStore, tmp_path: Path, signing: dict[str, Any]
) -> None:
    async with running_bot(store, tmp_path) as bot:
        [identify] = bot.fake.calls  # auth.test, once, at start
        assert identify.method == "auth.test"
        payload = bot.fake.command_payload("a fox")
        reply = await bot.fake.send_command(bot.events_url, payload, **signing)

        assert reply.status == 401
        assert bot.fake.calls == [identify] and await bot.jobs() == []
        # a correctly signed one goes through
        assert (await bot.command("a fox")).status == 200


@pytest.mark.parametrize(
    ("answers", "block", "words"),
    [
        ({"prompt": text_value("x" * 101)}, "prompt", "takes at most 100"),
        ({"duration": select_value("4"), "seed": number_value("12.5")}, "seed", "whole number"),
        (
            {"end_image": "notes.txt"},
            "end_image",
            "notes.txt is not a PNG, JPEG or WebP image.",
        ),
        ({"image": "tiny.png"}, "image", "images need at least 64 pixels"),
    ],
    ids=["prompt too long", "seed", "not an image", "image too small"],
)
async def test_invalid_form_input_is_shown_inline_and_charges_nothing(
    store: SqliteStore, tmp_path: Path, answers: dict[str, Any], block: str, words: str
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        files = {
            "notes.txt": fake.add_file(b"meeting notes", "notes.txt", mimetype="text/plain"),
            "tiny.png": fake.add_file(png_bytes(32, 32), "tiny.png"),
        }
        filled = {"prompt": text_value("a storm")} | {
            key: files_value(fake.file_json(files[value])) if isinstance(value, str) else value
            for key, value in answers.items()
        }
        await bot.command("")
        view = await bot.opened_view()

        reply = await bot.interact(fake.view_submission_payload(view, filled))

        assert reply.status == 200
        answer = reply.json()
        assert answer["response_action"] == "errors"
        assert list(answer["errors"]) == [block] and words in answer["errors"][block]
        assert await bot.jobs() == [] and bot.provider.submits == []


async def test_a_spent_quota_is_explained_and_nothing_is_posted(
    store: SqliteStore, tmp_path: Path
) -> None:
    limits = QuotaLimits(user_daily_s=5, user_concurrent=2, workspace_monthly_s=0)
    async with running_bot(store, tmp_path, limits=limits) as bot:
        await bot.command("a fox")

        [answer] = await bot.fake.wait_for(lambda: bot.fake.responses)
        assert "you have 5 s of 5 s left today" in answer["text"]
        assert answer["response_type"] == "ephemeral"
        assert await bot.jobs() == [] and bot.fake.calls_to("chat.postMessage") == []


async def test_a_provider_failure_ends_on_the_card_in_plain_words(
    store: SqliteStore, tmp_path: Path
) -> None:
    failing = ProviderStatus(
        ProviderJobState.FAILED, error_message="The model could not draw that."
    )
    provider = ScriptedProvider([failing])
    async with running_bot(store, tmp_path, provider=provider) as bot:
        await bot.command("a fox")
        done = await bot.finished(await bot.next_job())

        assert done.state is JobState.FAILED
        card = card_of(bot.fake, done)
        assert "could not draw that" in card.text and "not charged" in card.text
        assert "<@U1>" in card.text
        assert bot.fake.videos("C1", card.ts) == []
        assert await bot.ledger(done) == "refunded"


async def test_a_failure_is_still_told_when_the_card_was_deleted(
    store: SqliteStore, tmp_path: Path
) -> None:
    failing = ProviderStatus(ProviderJobState.FAILED, error_message="The model gave up.")
    provider = ScriptedProvider([RUNNING, failing])
    async with running_bot(store, tmp_path, provider=provider) as bot:
        fake = bot.fake
        gone = {"ok": False, "error": "message_not_found"}
        fake.inject(Fault("/api/chat.update", status=200, body=gone, times=2))  # progress too
        await bot.command("a fox")
        done = await bot.finished(await bot.next_job())

        [told] = fake.replies("C1", card_of(fake, done).ts)
        assert "<@U1> The model gave up." in told.text


async def test_a_retried_event_never_starts_a_second_job(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        mention = bot.fake.add_message("C2", f"<@{BOT_USER_ID}> fireworks")
        first = await bot.mention(mention, event_id="Ev03")
        again = await bot.mention(mention, event_id="Ev03", retry=1)
        other = bot.fake.add_message("C2", f"<@{BOT_USER_ID}> confetti")
        await bot.mention(other, event_id="Ev04")

        assert (first.status, again.status) == (200, 200)
        await bot.finished(await bot.next_job(1))
        prompts = sorted(job.request.prompt for job in await bot.jobs())
        assert prompts == ["confetti", "fireworks"]


async def test_a_retried_event_after_a_restart_still_makes_one_job(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with FakeSlack() as fake:
        mention = fake.add_message("C2", f"<@{BOT_USER_ID}> fireworks")
        async with running_bot(store, tmp_path, fake=fake) as first:
            await first.mention(mention, event_id="Ev05")
            job = await first.next_job()
            await first.finished(job)
        async with running_bot(store, tmp_path, fake=fake) as second:  # a new process
            again = await second.mention(mention, event_id="Ev05", retry=2)
            assert again.status == 200
            await second.adapter.close()  # let the retried event's work run to its end
            assert [j.id for j in await second.jobs()] == [job.id]


# --- the buttons ------------------------------------------------------------------------


async def test_re_roll_makes_a_new_video_charged_to_the_clicker(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        await bot.command("a fox", user="U1")
        first = await bot.finished(await bot.next_job())

        reply = await bot.interact(
            fake.block_action_payload(result_of(fake, first), "veo_reroll", user="U2")
        )
        assert (reply.status, reply.body) == (200, "")
        second = await bot.finished(await bot.next_job(1))

        assert second.origin.user_id == "U2" and second.request.prompt == "a fox"
        assert second.request.seed != first.request.seed
        thread = card_of(fake, first).ts
        assert second.origin.thread_id == thread and card_of(fake, second).thread_ts == thread
        assert len(fake.videos("C1", thread)) == 2
        usage = await bot.service.quota_report(second.origin)
        assert usage.used_today_s == 8


RETIRED_SENTENCE = (
    "Veo 3.1 Fast (veo-3.1-fast-generate-preview) was retired by Google on 2026-10-22; "
    "use gemini-omni-1.1-flash instead."
)


async def test_re_rolling_a_video_of_a_retired_model_is_refused_and_charges_nothing(
    store: SqliteStore, tmp_path: Path
) -> None:
    gemini = ScriptedProvider(video=sample_mp4())
    async with FakeSlack() as fake:
        # A video made while Google still served Veo 3.1 Fast on the Gemini API.
        async with running_bot(
            store,
            tmp_path,
            fake=fake,
            providers={"gemini": gemini},
            default_provider="gemini",
            unretired=("gemini",),
        ) as before:
            await before.command("")
            view = await before.opened_view()
            answers = {
                "prompt": text_value("a windmill"),
                "model": select_value("gemini/veo-3.1-fast-generate-preview"),
            }
            await before.interact(fake.view_submission_payload(view, answers))
            old = await before.finished(await before.next_job())
            assert (old.model, old.state) == ("veo-3.1-fast-generate-preview", JobState.DELIVERED)

        async with running_bot(
            store, tmp_path, fake=fake, providers={"gemini": gemini}, default_provider="gemini"
        ) as bot:
            await bot.interact(fake.block_action_payload(result_of(fake, old), "veo_reroll"))
            [refusal] = await fake.wait_for(lambda: fake.responses)
            await bot.command("")
            form = await bot.opened_view(2)

        assert refusal["text"] == RETIRED_SENTENCE
        assert refusal["response_type"] == "ephemeral"
        assert [job.id for job in await bot.jobs()] == [old.id]  # nothing new, nothing charged
        assert len(gemini.submits) == 1
        model = next(b for b in form["blocks"] if b.get("block_id") == "model")
        values = [option["value"] for option in model["element"]["options"]]
        assert values == ["gemini/gemini-omni-1.1-flash"]


async def test_delete_is_for_the_requester_or_an_admin(store: SqliteStore, tmp_path: Path) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        await bot.command("a fox", user="U1")
        done = await bot.finished(await bot.next_job())
        result = result_of(fake, done)
        thread = card_of(fake, done).ts
        [video] = fake.videos("C1", thread)

        await bot.interact(fake.block_action_payload(result, "veo_delete", user="U9"))
        [refusal] = await fake.wait_for(lambda: fake.responses)
        assert "Only <@U1>" in refusal["text"] and refusal["replace_original"] is False
        assert fake.videos("C1", thread) == [video]

        await bot.interact(fake.block_action_payload(result, "veo_delete", user="U1"))
        await fake.wait_for(lambda: not fake.videos("C1", thread))
        assert fake.calls_to("files.delete") == [{"file": video.id}]
        await fake.wait_for(lambda: "Deleted by <@U1>" in card_of(fake, done).all_text)
        assert result.deleted


async def test_an_admin_may_delete_anyones_video(store: SqliteStore, tmp_path: Path) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        await bot.command("a fox", user="U1")
        done = await bot.finished(await bot.next_job())

        await bot.interact(
            fake.block_action_payload(result_of(fake, done), "veo_delete", user="UADMIN")
        )

        await fake.wait_for(lambda: not fake.videos("C1", card_of(fake, done).ts))


# --- Slack failing ----------------------------------------------------------------------


async def test_a_failed_upload_is_retried_and_the_video_posted_once(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        bot.fake.fail_upload(status=500)
        await bot.command("a fox")
        done = await bot.finished(await bot.next_job())

        assert done.state is JobState.DELIVERED
        assert len(bot.fake.calls_to("files.getUploadURLExternal")) == 2
        assert len(bot.fake.videos("C1", card_of(bot.fake, done).ts)) == 1


async def test_a_rate_limit_after_the_upload_finishes_without_uploading_again(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider([RUNNING], video=sample_mp4())
    async with running_bot(store, tmp_path, provider=provider) as bot:
        fake = bot.fake
        await bot.command("a fox")
        job = await bot.next_job()
        # once the card shows progress, the next postMessage (the result message) is limited
        await fake.wait_for(lambda: fake.bot_messages("C1") and fake.bot_messages("C1")[0].updates)
        fake.ratelimit("chat.postMessage", retry_after=1)
        [scripted] = provider.jobs.values()
        scripted.readings = [SUCCEEDED]
        done = await bot.finished(job)

        assert done.state is JobState.DELIVERED
        assert len(fake.calls_to("files.completeUploadExternal")) == 1
        thread = card_of(fake, done).ts
        [share, result] = fake.replies("C1", thread)
        assert share.files and result == result_of(fake, done)
        assert fake.calls_to("conversations.replies")[0]["include_all_metadata"] == "1"


async def test_without_a_status_card_the_video_goes_in_the_channel_and_is_found_again(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider([RUNNING], video=sample_mp4())
    async with running_bot(store, tmp_path, provider=provider) as bot:
        fake = bot.fake
        fake.fail("chat.postMessage", status=503)
        await bot.command("a fox")
        job = await bot.next_job()
        await provider.polled.wait()  # the card failed; the job runs on without it
        fake.ratelimit("chat.postMessage")
        [scripted] = provider.jobs.values()
        scripted.readings = [SUCCEEDED]
        done = await bot.finished(job)

        assert done.state is JobState.DELIVERED and done.origin.refs == SlackRefs()
        [share, result] = fake.channel("C1")  # no card, so no thread: straight in
        assert share.files[0].data == provider.video and result == result_of(fake, done)
        # the retry found the upload in the channel's history instead of uploading again
        assert len(fake.calls_to("files.completeUploadExternal")) == 1
        [looked] = fake.calls_to("conversations.history")
        assert float(looked["oldest"]) == pytest.approx(job.created_at, abs=1e-5)


# --- Socket Mode ------------------------------------------------------------------------


async def test_the_same_flow_runs_over_socket_mode(store: SqliteStore, tmp_path: Path) -> None:
    async with running_bot(store, tmp_path, socket_mode=True) as bot:
        fake = bot.fake
        assert bot.adapter.healthy()
        # no HTTP endpoint in Socket Mode
        async with aiohttp.ClientSession() as session, session.post(bot.events_url) as response:
            assert response.status == 404

        envelope = await fake.push("slash_commands", fake.command_payload("a fox", user="U7"))
        assert await fake.socket_ack(envelope) == {"envelope_id": envelope}
        done = await bot.finished(await bot.next_job())

        [card] = fake.channel("C1")
        [video] = fake.videos("C1", card.ts)
        assert video.data == bot.provider.video and done.origin.user_id == "U7"

        # the form's inline errors travel in the ack's payload
        envelope = await fake.push("slash_commands", fake.command_payload(""))
        await fake.socket_ack(envelope)
        view = await bot.opened_view()
        long_prompt = {"prompt": text_value("x" * 101)}
        envelope = await fake.push("interactive", fake.view_submission_payload(view, long_prompt))
        ack = await fake.socket_ack(envelope)
        assert (
            ack["payload"]["response_action"] == "errors" and "prompt" in ack["payload"]["errors"]
        )

        # a retried event envelope starts nothing new
        mention = fake.add_message("C2", f"<@{BOT_USER_ID}> sparks")
        event = fake.event_envelope(fake.mention_event(mention), event_id="Ev05")
        for attempt in (None, 1):
            await fake.socket_ack(await fake.push("events_api", event, retry_attempt=attempt))
        await bot.finished(await bot.next_job(1))
        assert len(await bot.jobs()) == 2


async def test_a_refused_app_token_stops_start_up(store: SqliteStore, tmp_path: Path) -> None:
    async with FakeSlack(app_token="xapp-another-token") as fake:
        settings = Settings(
            _env_file=None,
            slack_bot_token=fake.bot_token,
            slack_app_token="xapp-wrong",
            slack_api_url=fake.api_url,
        )
        adapter = create_adapter(settings)
        service = make_service(
            store,
            tmp_path,
            providers={"scripted": ScriptedProvider()},
            surfaces={"slack": adapter.surface},
        )
        with pytest.raises(ConfigurationError, match=r"invalid_auth.*SLACK_APP_TOKEN") as raised:
            await adapter.start(service)
        assert "xapp-wrong" not in str(raised.value)
        assert not adapter.healthy()
        await adapter.close()


# --- restarts ---------------------------------------------------------------------------


async def test_a_restart_between_upload_and_record_delivers_once(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with FakeSlack() as fake:
        provider = ScriptedProvider(video=sample_mp4())
        hold = fake.hold("files.completeUploadExternal")
        async with running_bot(store, tmp_path, fake=fake, provider=provider) as first:
            await first.command("a fox")
            job = await first.next_job()
            await hold.reached.wait()  # Slack has shared the video; the bot never hears back
            await first.scheduler.stop(grace_s=0)  # the process dies
        hold.release()
        stuck = await store.get_job(job.id)
        assert stuck is not None and stuck.state is JobState.DELIVERING

        async with running_bot(store, tmp_path, fake=fake, provider=provider) as second:
            done = await second.finished(stuck)

        assert done.state is JobState.DELIVERED
        thread = card_of(fake, done).ts
        [share, result] = fake.replies("C1", thread)
        assert [f.name for f in share.files] == [f"veo-{job.id}.mp4"]
        assert result == result_of(fake, done)
        assert len(fake.calls_to("files.completeUploadExternal")) == 1
        assert "done" in card_of(fake, done).updates[-1]["text"]


async def test_a_burst_right_after_start_asks_slack_who_the_bot_is_only_once(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        replies = await asyncio.gather(*(bot.command(f"fox {n}", user=f"U{n}") for n in range(20)))

        assert {reply.status for reply in replies} == {200}
        await bot.next_job(19)
        assert len(bot.fake.calls_to("auth.test")) == 1


async def test_a_wrong_bot_token_stops_start_up_in_plain_words(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with FakeSlack() as fake:
        settings = Settings(
            _env_file=None,
            slack_bot_token="xoxb-not-the-token",
            slack_signing_secret=fake.signing_secret,
            slack_api_url=fake.api_url,
        )
        adapter = create_adapter(settings)
        service = make_service(
            store,
            tmp_path,
            providers={"scripted": ScriptedProvider()},
            surfaces={"slack": adapter.surface},
        )
        with pytest.raises(ConfigurationError) as refused:
            await adapter.start(service)
        await adapter.close()

        assert "SLACK_BOT_TOKEN (invalid_auth)" in str(refused.value)
        assert "xoxb-not-the-token" not in str(refused.value)
