"""Restarts and start-up on Slack: a restart between upload and record, a burst right after
start, and a wrong bot token."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.slack import create_adapter
from bot.errors import ConfigurationError
from bot.models import JobState
from bot.settings import Settings
from storage.sqlite import SqliteStore
from tests.fakes._base import sample_mp4
from tests.fakes.slack import FakeSlack
from tests.slack.support import card_of, result_of, running_bot
from tests.support import ScriptedProvider, make_service


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
