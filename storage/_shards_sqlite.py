"""`ShardLeases` on SQLite (bot.shards): Discord's shard leases and the settings every replica
shares, each call one write transaction. SQLite serves one `veo-bot run` at a time, so this is
mostly a lone replica taking every shard; the contract is the same as on PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from contextlib import AbstractAsyncContextManager

import aiosqlite

from bot.shards import ShardLease, plan_shards

SHARD_COUNT = "shard_count"


class SqliteShards:
    """Mixed into `SqliteStore`, which provides `_transaction`."""

    def _transaction(self) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        raise NotImplementedError

    async def shard_count(
        self, proposed: int | None = None, *, replace: bool = False
    ) -> int | None:
        async with self._transaction() as db:
            stored = await _setting(db, SHARD_COUNT)
            current = int(stored) if stored is not None else None
            if proposed is None or (current is not None and not replace) or current == proposed:
                return current
            await _set(db, SHARD_COUNT, str(proposed))
            await db.execute("DELETE FROM discord_shards")
            await db.execute("DELETE FROM discord_replicas")  # each comes back, if current
            return proposed

    async def balance_shards(
        self, holder: str, *, count: int, now: float, ttl_s: float, take: bool = True
    ) -> list[int]:
        until = now + ttl_s
        async with self._transaction() as db:
            stored = await _setting(db, SHARD_COUNT)
            if stored is not None and int(stored) != count:
                # An outdated count: this replica holds nothing and counts for no share.
                await db.execute("DELETE FROM discord_replicas WHERE holder = ?", (holder,))
                await db.execute("DELETE FROM discord_shards WHERE holder = ?", (holder,))
                return []
            await db.execute(
                "INSERT INTO discord_replicas (holder, expires_at) VALUES (?, ?) "
                "ON CONFLICT (holder) DO UPDATE SET expires_at = excluded.expires_at",
                (holder, until),
            )
            await db.execute("DELETE FROM discord_replicas WHERE expires_at <= ?", (now,))
            if not take:
                async with db.execute(
                    "SELECT shard_id FROM discord_shards WHERE holder = ? ORDER BY shard_id",
                    (holder,),
                ) as cur:
                    return [int(row[0]) for row in await cur.fetchall()]
            async with db.execute("SELECT COUNT(*) FROM discord_replicas") as cur:
                row = await cur.fetchone()
            live = int(row[0]) if row is not None else 1
            async with db.execute("SELECT shard_id, holder, expires_at FROM discord_shards") as cur:
                leases = {int(r[0]): ShardLease(r[1], float(r[2])) for r in await cur.fetchall()}
            plan = plan_shards(holder, count=count, leases=leases, live=live, now=now)
            await db.executemany(
                "INSERT INTO discord_shards (shard_id, holder, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (shard_id) DO UPDATE SET holder = excluded.holder, "
                "expires_at = excluded.expires_at",
                [(shard, holder, until) for shard in plan.hold],
            )
            return list(plan.hold)

    async def release_shards(self, holder: str, shards: Collection[int] | None = None) -> None:
        async with self._transaction() as db:
            if shards is not None:
                await db.executemany(
                    "DELETE FROM discord_shards WHERE shard_id = ? AND holder = ?",
                    [(shard, holder) for shard in shards],
                )
                return
            await db.execute("DELETE FROM discord_shards WHERE holder = ?", (holder,))
            await db.execute("DELETE FROM discord_replicas WHERE holder = ?", (holder,))

    async def sync_once(self, name: str, digest: str, sync: Callable[[], Awaitable[None]]) -> bool:
        async with self._transaction() as db:
            if await _setting(db, name) == digest:
                return False
            await sync()
            await _set(db, name, digest)
            return True


async def _setting(db: aiosqlite.Connection, name: str) -> str | None:
    async with db.execute("SELECT value FROM discord_settings WHERE name = ?", (name,)) as cur:
        row = await cur.fetchone()
    return str(row[0]) if row is not None else None


async def _set(db: aiosqlite.Connection, name: str, value: str) -> None:
    await db.execute(
        "INSERT INTO discord_settings (name, value) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (name, value),
    )
