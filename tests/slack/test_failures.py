"""Failures on Slack: a provider's failure told on the card (or in the thread when the card is
gone), failed and rate-limited uploads, and a video without a status card."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.models import JobState, ProviderJobState, ProviderStatus
from bot.refs import SlackRefs
from storage.sqlite import SqliteStore
from tests.fakes._base import Fault, sample_mp4
from tests.slack.support import RUNNING, SUCCEEDED, card_of, result_of, running_bot
from tests.support import ScriptedProvider


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
