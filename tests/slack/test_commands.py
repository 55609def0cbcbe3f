"""/veo on Slack: a text prompt through to the MP4 in the card's thread, the provider's queue,
help, the quota line, and the app manifest that names what the bot answers."""

from __future__ import annotations

import json
import time
from pathlib import Path

import adapters.slack
from adapters.slack import EVENTS_PATH
from bot.models import JobState, ProviderJobState, ProviderStatus, QuotaLimits
from bot.refs import SlackRefs
from storage.sqlite import SqliteStore
from tests.fakes._base import sample_mp4
from tests.fakes.slack import BOT_TOKEN
from tests.slack.support import SUCCEEDED, card_of, running_bot
from tests.support import ScriptedProvider


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
    # Results sent privately go into a DM the bot opens; /veo works in the Messages tab.
    assert "im:write" in scopes
    # Each person's language: users.info with include_locale.
    assert "users:read" in scopes
    assert features["app_home"]["messages_tab_enabled"] is True
    assert features["app_home"]["messages_tab_read_only_enabled"] is False

    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        payload = fake.command_payload("help", command=command["command"])
        assert "*Models*" in (await fake.send_command(bot.events_url, payload)).json()["text"]
        plain = fake.add_message("C1", "no picture here")
        await bot.interact(fake.shortcut_payload(plain, callback_id=shortcut["callback_id"]))
        [answer] = await fake.wait_for(lambda: fake.responses)
        assert "holds no image" in answer["text"] and fake.views == []
