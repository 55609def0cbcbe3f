"""`ShardLeases` on PostgreSQL (bot.shards): Discord's shard leases and the settings every
replica shares. Each call is one transaction under a transaction advisory lock, so replicas
renewing together see each other's leases and never take one shard twice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from contextlib import AbstractAsyncContextManager
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from bot.shards import ShardLease, plan_shards

# As storage.postgres names it (imported from there, it would be an import cycle).
Connection: TypeAlias = "PoolConnectionProxy[asyncpg.Record] | asyncpg.Connection[asyncpg.Record]"

SHARD_COUNT = "shard_count"
# One lock per schema: the shard leases, and each shared setting by its name.
_LOCK = (
    "SELECT pg_advisory_xact_lock("
    "hashtextextended('veo-bot:discord:' || $1 || ':' || current_schema(), 0))"
)


class PostgresShards:
    """Mixed into `PostgresStore`, which provides `_transaction`."""

    def _transaction(self) -> AbstractAsyncContextManager[Connection]:
        raise NotImplementedError

    async def shard_count(
        self, proposed: int | None = None, *, replace: bool = False
    ) -> int | None:
        async with self._transaction() as db:
            await db.execute(_LOCK, "shards")
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
            await db.execute(_LOCK, "shards")
            stored = await _setting(db, SHARD_COUNT)
            if stored is not None and int(stored) != count:
                # An outdated count: this replica holds nothing and counts for no share.
                await db.execute("DELETE FROM discord_replicas WHERE holder = $1", holder)
                await db.execute("DELETE FROM discord_shards WHERE holder = $1", holder)
                return []
            await db.execute(
                "INSERT INTO discord_replicas (holder, expires_at) VALUES ($1, $2) "
                "ON CONFLICT (holder) DO UPDATE SET expires_at = excluded.expires_at",
                holder,
                until,
            )
            await db.execute("DELETE FROM discord_replicas WHERE expires_at <= $1", now)
            if not take:
                rows = await db.fetch(
                    "SELECT shard_id FROM discord_shards WHERE holder = $1 ORDER BY shard_id",
                    holder,
                )
                return [int(r["shard_id"]) for r in rows]
            live = int(await db.fetchval("SELECT COUNT(*) FROM discord_replicas"))
            rows = await db.fetch("SELECT shard_id, holder, expires_at FROM discord_shards")
            leases = {
                int(r["shard_id"]): ShardLease(r["holder"], float(r["expires_at"])) for r in rows
            }
            plan = plan_shards(holder, count=count, leases=leases, live=live, now=now)
            await db.execute(
                "INSERT INTO discord_shards (shard_id, holder, expires_at) "
                "SELECT s, $2, $3 FROM unnest($1::integer[]) AS s "
                "ON CONFLICT (shard_id) DO UPDATE SET holder = excluded.holder, "
                "expires_at = excluded.expires_at",
                list(plan.hold),
                holder,
                until,
            )
            return list(plan.hold)

    async def release_shards(self, holder: str, shards: Collection[int] | None = None) -> None:
        async with self._transaction() as db:
            await db.execute(_LOCK, "shards")
            if shards is not None:
                await db.execute(
                    "DELETE FROM discord_shards WHERE shard_id = ANY($1::integer[]) "
                    "AND holder = $2",
                    list(shards),
                    holder,
                )
                return
            await db.execute("DELETE FROM discord_shards WHERE holder = $1", holder)
            await db.execute("DELETE FROM discord_replicas WHERE holder = $1", holder)

    async def sync_once(self, name: str, digest: str, sync: Callable[[], Awaitable[None]]) -> bool:
        async with self._transaction() as db:
            await db.execute(_LOCK, name)
            if await _setting(db, name) == digest:
                return False
            await sync()
            await _set(db, name, digest)
            return True


async def _setting(db: Connection, name: str) -> str | None:
    value = await db.fetchval("SELECT value FROM discord_settings WHERE name = $1", name)
    return str(value) if value is not None else None


async def _set(db: Connection, name: str, value: str) -> None:
    await db.execute(
        "INSERT INTO discord_settings (name, value) VALUES ($1, $2) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        name,
        value,
    )
