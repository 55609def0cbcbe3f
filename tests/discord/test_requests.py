"""Asking for a video on Discord: /veo through to the MP4 in the card's thread, the
acknowledgement in time whatever the database does, the permissions checked up front, and a
wrong token at start-up."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import discord.gateway
import discord.http
import pytest

from adapters.discord import create_adapter
from bot.errors import ConfigurationError
from bot.models import JobState, ProviderJobState, ProviderStatus
from bot.refs import DiscordRefs
from storage.sqlite import SqliteStore
from tests.discord.support import SUCCEEDED, buttons_of, running_bot, settings_for
from tests.fakes._base import sample_mp4
from tests.fakes.discord import ATTACH_FILES, EPHEMERAL, MEMBER_PERMISSIONS, FakeDiscord
from tests.support import ScriptedProvider, make_service


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
        assert {"Re-roll", "Delete"} <= {c.get("label") for c in buttons_of(video)}
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


async def test_discord_internals_the_adapter_relies_on_still_exist() -> None:
    # DISCORD_API_BASE / DISCORD_GATEWAY_URL are applied through these class attributes:
    # discord.py has no public setting for either.
    assert isinstance(discord.http.Route.BASE, str)
    assert discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY is not None
    # The shard keeper connects shards one by one (`launch_shard`, with `launch_shards` made
    # a no-op) and tells the connection state the count and ids (its `shard_count` and
    # `shard_ids`, read when a READY arrives).
    client = discord.AutoShardedClient(intents=discord.Intents.none())
    assert callable(client.launch_shard) and callable(client.launch_shards)
    assert hasattr(client._connection, "shard_count")
    assert hasattr(client._connection, "shard_ids")


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
