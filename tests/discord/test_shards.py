"""Discord shards across `veo-bot run` replicas on one PostgreSQL database (issue 16, fifth
part), as real processes against the fake Discord: with DISCORD_SHARD_COUNT=4, two replicas
started together connect each shard exactly once between them and register the commands once;
a replica killed with SIGKILL loses its shards to the other within the (short) lease TTL; one
that stops cleanly hands its shards over at the next renewal. And with no count configured,
the count Discord recommends is read once and kept in the database."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import aiohttp
import asyncpg

from tests.bot_process import BotProcess, veo_bot_run
from tests.fakes.discord import FakeDiscord
from tests.support import eventually

T = TypeVar("T")
RENEW_S = 0.5
TTL_S = 2.0
LONG_TTL_S = 30.0


def env_for(
    fake: FakeDiscord, database_url: str, *, ttl_s: float = TTL_S, **extra: str
) -> dict[str, str]:
    return {
        "DISCORD_TOKEN": fake.token,
        "DISCORD_API_BASE": fake.api_base,
        "DISCORD_GATEWAY_URL": fake.gateway_url,
        "VEO_DATABASE_URL": database_url,
        "DISCORD_SHARD_RENEW_S": str(RENEW_S),
        "DISCORD_SHARD_TTL_S": str(ttl_s),
        **extra,
    }


async def health(bot: BotProcess) -> dict[str, object]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{bot.port}/healthz") as answer,
    ):
        body: dict[str, object] = await answer.json()
        return body


async def held(bot: BotProcess) -> list[int]:
    shards = (await health(bot))["discord_shards"]
    assert isinstance(shards, list)
    return shards


def command_syncs(fake: FakeDiscord) -> int:
    return len(fake.calls("PUT", "/applications/*/commands"))


async def test_two_replicas_connect_each_of_four_shards_once_and_take_over_a_killed_one(
    tmp_path: Path, postgres_url: str
) -> None:
    async with FakeDiscord() as fake, contextlib.AsyncExitStack() as stack:
        fake.max_concurrency = 16  # identifies are not spaced 5 s apart
        fake.gateway_bot_gate = 2  # both replicas have started before either takes shards
        env = env_for(fake, postgres_url, DISCORD_SHARD_COUNT="4")
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
        a, b = await asyncio.gather(
            *(stack.enter_async_context(veo_bot_run(tmp_path / n, **env)) for n in ("a", "b"))
        )
        await fake.wait_shards([0, 1, 2, 3], timeout_s=30)
        # Each shard identified exactly once, with the configured count; two each.
        assert sorted(fake.identified) == [(s, 4) for s in range(4)]
        shares = [await held(a), await held(b)]
        assert sorted(shares[0] + shares[1]) == [0, 1, 2, 3]
        assert [len(s) for s in shares] == [2, 2], shares
        for bot in (a, b):  # ready once discord.py has waited for the guilds
            await eventually(partial(_healthy, bot), timeout_s=15, step_s=0.1)
        # The commands were registered by one replica only.
        assert command_syncs(fake) == 1
        assert {c["name"] for c in fake.commands[None]} >= {"veo", "veo-quota"}

        # A slash command reaches the bot on the server's shard, whichever replica holds it.
        asked = await fake.slash("veo", {"prompt": "a lighthouse at dawn", "duration": 4})
        assert "Queued" in await fake.wait_for(asked.reply_text, timeout_s=30)

        # SIGKILL "a": its connections drop; "b" identifies its shards once the leases ran out.
        a.process.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        await a.process.wait()
        await fake.wait_for(lambda: fake.live_shards() == sorted(shares[1]), timeout_s=10)
        await fake.wait_shards([0, 1, 2, 3], timeout_s=TTL_S + 2 * RENEW_S + 5)
        took_s = time.monotonic() - killed_at
        assert took_s <= TTL_S + 2 * RENEW_S + 2, took_s
        assert sorted(await held(b)) == [0, 1, 2, 3]
        # The shards "b" held were never reconnected: 4 identifies, then "a"'s 2 again.
        assert sorted(fake.identified) == sorted(
            [(s, 4) for s in range(4)] + [(s, 4) for s in shares[0]]
        )
        assert fake.violations == []
        print(f"\nshards of a killed replica identified again after {took_s:.2f} s")


async def test_a_replica_that_stops_hands_its_shards_over_and_one_that_joins_gets_its_share(
    tmp_path: Path, postgres_url: str
) -> None:
    async with FakeDiscord() as fake, contextlib.AsyncExitStack() as stack:
        fake.max_concurrency = 16
        fake.recommended_shards = 3  # no DISCORD_SHARD_COUNT: Discord's recommendation
        # A long TTL: handing over does not wait for leases to run out.
        env = env_for(fake, postgres_url, ttl_s=LONG_TTL_S)
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
        a = await stack.enter_async_context(veo_bot_run(tmp_path / "a", **env))
        await fake.wait_shards([0, 1, 2], timeout_s=30)
        assert await held(a) == [0, 1, 2]
        # The recommendation was read once and kept: a replica starting later uses the stored
        # count even though Discord now recommends another.
        fake.recommended_shards = 5
        async with veo_bot_run(tmp_path / "b", **env) as b:
            # "b" joins: "a" gives back one shard, disconnected before "b" identifies it.
            share = await eventually(
                lambda: _when(held(b), lambda s: len(s) == 1), timeout_s=15, step_s=0.1
            )
            await fake.wait_shards([0, 1, 2], timeout_s=10)
            assert sorted(await held(a) + share) == [0, 1, 2]
            assert command_syncs(fake) == 1  # the second replica found them registered
            db = await asyncpg.connect(postgres_url)
            try:
                count = await db.fetchval(
                    "SELECT value FROM discord_settings WHERE name = 'shard_count'"
                )
            finally:
                await db.close()
            assert count == "3"
            started_at = time.monotonic()
        # "b" stopped cleanly: it released its shard, which "a" takes at its next renewal,
        # long before the lease would have run out.
        await fake.wait_shards([0, 1, 2], timeout_s=10)
        assert time.monotonic() - started_at < LONG_TTL_S
        assert await held(a) == [0, 1, 2]
        assert all(count == 3 for _, count in fake.identified)
        assert fake.violations == []


async def _when(reading: Awaitable[T], ok: Callable[[T], bool]) -> T | None:
    value = await reading
    return value if ok(value) else None


async def _healthy(bot: BotProcess) -> dict[str, object] | None:
    report = await health(bot)
    return report if report["status"] == "ok" and report["discord"] == "ok" else None
