"""One replica's shard keeper in-process against the fake Discord: a shard whose lease another
replica took is disconnected at the next renewal, and connected again once it is free; a
replica that cannot renew (the database locked) disconnects once its lease surely ran out; the
commands are registered once however often the bot starts with the same set."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from bot.errors import ConfigurationError
from storage.sqlite import SqliteStore
from tests.discord.support import running_bot
from tests.fakes._base import Fault
from tests.fakes.discord import API_PREFIX, FakeDiscord


async def test_a_shard_whose_lease_another_replica_took_is_disconnected_then_taken_back(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        keeper = bot.adapter.shards
        await bot.fake.wait_shards([0])
        assert keeper.held == (0,) and bot.adapter.health_details() == {
            "shards": [0],
            "shard_count": 1,
        }
        # This replica stalled past its lease and another one took the shard.
        later = time.time() + 100
        assert await store.balance_shards("other", count=1, now=later, ttl_s=45) == [0]
        await keeper.renew()
        await bot.fake.wait_for(lambda: bot.fake.live_shards() == [])
        assert not keeper.held and bot.adapter.health_details()["shards"] == []
        # The other replica stops: the shard is free, taken and identified again.
        await store.release_shards("other")
        await keeper.renew()
        await bot.fake.wait_shards([0])
        assert keeper.held == (0,)
        assert bot.fake.identified == [(0, 1), (0, 1)]


async def test_the_commands_are_registered_once_per_command_set(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with FakeDiscord() as fake:
        async with running_bot(store, tmp_path, fake=fake):
            pass
        async with running_bot(store, tmp_path, fake=fake):
            pass
        assert len(fake.calls("PUT", "/applications/*/commands")) == 1
        # Another application (a new token) has none of them: registered there too.
        async with FakeDiscord() as other, running_bot(store, tmp_path, fake=other):
            assert len(other.calls("PUT", "/applications/*/commands")) == 1


async def test_a_replica_that_cannot_renew_disconnects_once_its_lease_ran_out(
    store: SqliteStore, tmp_path: Path
) -> None:
    short = {"discord_shard_renew_s": 0.2, "discord_shard_ttl_s": 0.6}
    async with running_bot(store, tmp_path, settings=short, start_scheduler=False) as bot:
        await bot.fake.wait_shards([0])
        # Another process holds the database: renewals wait, then give up.
        other = sqlite3.connect(tmp_path / "veo.db", isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            locked_at = time.monotonic()
            await bot.fake.wait_for(lambda: bot.fake.live_shards() == [], timeout_s=5)
            assert time.monotonic() - locked_at < 0.6 + 0.2 + 1
            assert not bot.adapter.shards.held
        finally:
            other.execute("COMMIT")
            other.close()
        # The database answers again: the shard is taken and connected anew.
        await bot.fake.wait_shards([0], timeout_s=5)
        assert bot.adapter.shards.held == (0,)


async def test_a_count_changed_by_another_replica_reconnects_every_shard_with_it(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        keeper = bot.adapter.shards
        await bot.fake.wait_shards([0])
        # Another replica starts with DISCORD_SHARD_COUNT=2.
        await store.shard_count(2, replace=True)
        await keeper.renew()
        await bot.fake.wait_shards([0, 1], timeout_s=15)
        assert keeper.count == 2 and keeper.held == (0, 1)
        assert bot.fake.identified == [(0, 1), (0, 2), (1, 2)]


async def test_without_discords_recommendation_a_known_count_is_used_and_none_is_refused(
    store: SqliteStore, tmp_path: Path
) -> None:
    forbidden = {"message": "Missing Access", "code": 50001}
    async with FakeDiscord() as fake:
        fake.inject(Fault(f"{API_PREFIX}/gateway/bot", status=403, body=forbidden, times=2))
        # No count anywhere: the start stops, saying what to do.
        with pytest.raises(ConfigurationError, match="set DISCORD_SHARD_COUNT"):
            async with running_bot(store, tmp_path, fake=fake):
                pass
        # DISCORD_SHARD_COUNT set: Discord's answer is not needed.
        async with running_bot(store, tmp_path, fake=fake, settings={"discord_shard_count": 1}):
            await fake.wait_shards([0])
