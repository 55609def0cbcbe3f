"""The `ShardLeases` contract (bot.shards) on SQLite and PostgreSQL: Discord's shard count
recorded once, two holders never on one shard, expiry, fair shares as replicas come and go,
and a sync that runs once per command set."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from bot.shards import ShardLease, fair_share, plan_shards
from storage import open_store

if TYPE_CHECKING:
    from storage import AnyStore

NOW = 1_000_000.0
TTL = 45.0


def test_the_fair_share_is_a_ceiling_and_a_lone_replica_takes_all() -> None:
    assert [fair_share(4, n) for n in (0, 1, 2, 3, 4, 5)] == [4, 4, 2, 2, 1, 1]


def test_a_plan_keeps_its_own_gives_back_the_excess_and_takes_only_free_or_expired() -> None:
    leases = {
        0: ShardLease("a", NOW + 10),
        1: ShardLease("a", NOW + 10),
        2: ShardLease("b", NOW + 10),
        3: ShardLease("b", NOW - 1),
    }
    plan = plan_shards("a", count=6, leases=leases, live=2, now=NOW)
    assert plan.hold == (0, 1, 3) and plan.release == ()
    plan = plan_shards("a", count=6, leases=leases, live=3, now=NOW)
    assert plan.hold == (0, 1) and plan.release == ()
    plan = plan_shards("a", count=6, leases=leases, live=6, now=NOW)
    assert plan.hold == (0,) and plan.release == (1,)


async def test_the_first_count_recorded_is_everyones_unless_replaced(any_store: AnyStore) -> None:
    assert await any_store.shard_count() is None
    assert await any_store.shard_count(3) == 3
    assert await any_store.shard_count(5) == 3  # another replica's recommendation: too late
    assert await any_store.balance_shards("a", count=3, now=NOW, ttl_s=TTL) == [0, 1, 2]
    assert await any_store.shard_count(4, replace=True) == 4  # DISCORD_SHARD_COUNT changed
    assert await any_store.shard_count() == 4
    # Every lease went with the old count: "b" alone is live, it takes all four.
    await any_store.release_shards("a")
    assert await any_store.balance_shards("b", count=4, now=NOW, ttl_s=TTL) == [0, 1, 2, 3]


async def test_a_lone_replica_takes_every_shard_and_renews_them(any_store: AnyStore) -> None:
    assert await any_store.balance_shards("a", count=4, now=NOW, ttl_s=TTL) == [0, 1, 2, 3]
    # Renewed: still its own after the first lease would have run out.
    assert await any_store.balance_shards("a", count=4, now=NOW + 30, ttl_s=TTL) == [0, 1, 2, 3]
    assert await any_store.balance_shards("b", count=4, now=NOW + 60, ttl_s=TTL) == []


async def test_a_replica_that_joins_gets_its_share_once_the_other_gives_it_back(
    any_store: AnyStore,
) -> None:
    assert await any_store.balance_shards("a", count=4, now=NOW, ttl_s=TTL) == [0, 1, 2, 3]
    # "b" joins: nothing is free yet, but it now counts as live.
    assert await any_store.balance_shards("b", count=4, now=NOW + 1, ttl_s=TTL) == []
    # "a" keeps its share and stops renewing the rest, which stays its own until released.
    assert await any_store.balance_shards("a", count=4, now=NOW + 2, ttl_s=TTL) == [0, 1]
    assert await any_store.balance_shards("b", count=4, now=NOW + 3, ttl_s=TTL) == []
    await any_store.release_shards("a", [2, 3])  # disconnected
    assert await any_store.balance_shards("b", count=4, now=NOW + 4, ttl_s=TTL) == [2, 3]
    assert await any_store.balance_shards("a", count=4, now=NOW + 5, ttl_s=TTL) == [0, 1]


async def test_shards_given_back_but_not_released_are_free_when_their_lease_runs_out(
    any_store: AnyStore,
) -> None:
    assert await any_store.balance_shards("a", count=2, now=NOW, ttl_s=TTL) == [0, 1]
    assert await any_store.balance_shards("b", count=2, now=NOW + 40, ttl_s=TTL) == []
    assert await any_store.balance_shards("a", count=2, now=NOW + 41, ttl_s=TTL) == [0]
    # "a" died before releasing shard 1: "b" takes it once the unrenewed lease ran out.
    assert await any_store.balance_shards("b", count=2, now=NOW + 44, ttl_s=TTL) == []
    assert await any_store.balance_shards("b", count=2, now=NOW + 46, ttl_s=TTL) == [1]


async def test_replicas_that_joined_before_taking_share_at_once(any_store: AnyStore) -> None:
    for holder in "abc":
        assert await any_store.balance_shards(holder, count=5, now=NOW, ttl_s=TTL, take=False) == []
    held = [await any_store.balance_shards(h, count=5, now=NOW + 1, ttl_s=TTL) for h in "abc"]
    assert held == [[0, 1], [2, 3], [4]]


async def test_a_dead_holders_shards_are_taken_once_its_leases_expire(any_store: AnyStore) -> None:
    await any_store.balance_shards("a", count=4, now=NOW, ttl_s=TTL, take=False)
    await any_store.balance_shards("b", count=4, now=NOW, ttl_s=TTL, take=False)
    assert await any_store.balance_shards("a", count=4, now=NOW, ttl_s=TTL) == [0, 1]
    assert await any_store.balance_shards("b", count=4, now=NOW, ttl_s=TTL) == [2, 3]
    # "a" stops renewing. Before its lease runs out, "b" takes nothing of it.
    assert await any_store.balance_shards("b", count=4, now=NOW + 30, ttl_s=TTL) == [2, 3]
    # After: "a" is no longer live, "b" is alone and takes everything.
    assert await any_store.balance_shards("b", count=4, now=NOW + 46, ttl_s=TTL) == [0, 1, 2, 3]
    # "a" comes back: it lost its leases, and gets shards only as "b" gives them back.
    assert await any_store.balance_shards("a", count=4, now=NOW + 47, ttl_s=TTL) == []


async def test_a_clean_stop_frees_the_shards_at_once(any_store: AnyStore) -> None:
    await any_store.balance_shards("a", count=2, now=NOW, ttl_s=TTL)
    await any_store.release_shards("a")
    assert await any_store.balance_shards("b", count=2, now=NOW + 1, ttl_s=TTL) == [0, 1]


async def test_holders_balancing_together_never_hold_one_shard_twice(
    any_store: AnyStore, database_url: str
) -> None:
    # Separate stores (pools / connections), as separate replicas have.
    stores = [any_store] + [await open_store(database_url) for _ in range(3)]
    try:
        holders = [f"replica-{i}" for i in range(len(stores))]
        held: list[list[int]] = [[] for _ in stores]

        async def heartbeat(i: int, now: float) -> None:
            # As the keeper does: what is no longer held is disconnected, then released.
            before = held[i]
            held[i] = await stores[i].balance_shards(holders[i], count=10, now=now, ttl_s=TTL)
            await stores[i].release_shards(holders[i], sorted(set(before) - set(held[i])))

        for step in range(5):
            await asyncio.gather(*(heartbeat(i, NOW + step) for i in range(len(stores))))
            every = [shard for shards in held for shard in shards]
            assert len(every) == len(set(every)), held
        # Settled: every shard held once, nobody above the fair share of 3.
        assert sorted(every) == list(range(10))
        assert max(len(shards) for shards in held) <= 3
    finally:
        for store in stores[1:]:
            await store.close()


async def test_a_sync_runs_once_per_digest_and_again_when_it_failed(any_store: AnyStore) -> None:
    runs: list[str] = []

    async def sync() -> None:
        runs.append("synced")

    async def refused() -> None:
        raise RuntimeError("Discord said no")

    assert await any_store.sync_once("commands", "abc", sync) is True
    assert await any_store.sync_once("commands", "abc", sync) is False
    with pytest.raises(RuntimeError):
        await any_store.sync_once("commands", "def", refused)
    assert await any_store.sync_once("commands", "def", sync) is True
    assert runs == ["synced", "synced"]


async def test_replicas_syncing_together_sync_once(any_store: AnyStore, database_url: str) -> None:
    stores = [any_store] + [await open_store(database_url) for _ in range(2)]
    runs: list[int] = []

    async def sync() -> None:
        runs.append(1)
        await asyncio.sleep(0)  # others arrive meanwhile and wait for the lock

    try:
        ran = await asyncio.gather(*(s.sync_once("commands", "v1", sync) for s in stores))
    finally:
        for store in stores[1:]:
            await store.close()
    assert sorted(ran) == [False, False, True] and runs == [1]


async def test_a_replica_with_an_outdated_count_holds_nothing_and_takes_no_share(
    any_store: AnyStore,
) -> None:
    await any_store.shard_count(2)
    await any_store.balance_shards("old", count=2, now=NOW, ttl_s=TTL)
    await any_store.shard_count(4, replace=True)  # a replica started with DISCORD_SHARD_COUNT=4
    assert await any_store.balance_shards("new", count=4, now=NOW + 1, ttl_s=TTL) == [0, 1, 2, 3]
    # The replica still at 2 shards gets none, and does not count as live.
    assert await any_store.balance_shards("old", count=2, now=NOW + 2, ttl_s=TTL) == []
    assert await any_store.balance_shards("new", count=4, now=NOW + 3, ttl_s=TTL) == [0, 1, 2, 3]
