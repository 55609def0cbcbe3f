"""Discord shards across replicas (issue 16, fifth part): which shards one replica should hold,
decided from the leases in the database. Pure policy; each store applies it in the same
transaction that reads the leases, so two replicas never hold one shard.

A replica renews the leases it holds up to its fair share and takes free or expired shards up
to it. What is above its share (a replica joined) it stops renewing, disconnects, and only then
releases, so a shard is never connected by two replicas at once. The fair share is
ceil(count / live replicas), a replica being live while its own heartbeat is not run out."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Protocol

# Defaults: a dead holder's shards are free after the TTL and taken at the next renewal of
# another replica, so within a minute (45 s + 15 s).
RENEW_INTERVAL_S = 15.0
LEASE_TTL_S = 45.0
MAX_SHARD_COUNT = 1000


@dataclass(frozen=True)
class ShardLease:
    """Who holds a shard, and until when."""

    holder: str
    expires_at: float


@dataclass(frozen=True)
class ShardPlan:
    """What one replica does at a renewal: the shards it holds afterwards (renewed or newly
    taken) and those it should give back (left unrenewed, released once disconnected)."""

    hold: tuple[int, ...]
    release: tuple[int, ...]


def fair_share(count: int, live: int) -> int:
    """How many shards one of `live` replicas holds at most; a lone replica holds them all."""
    return math.ceil(count / max(live, 1))


def plan_shards(
    holder: str,
    *,
    count: int,
    leases: Mapping[int, ShardLease],
    live: int,
    now: float,
) -> ShardPlan:
    """What `holder` holds after this renewal, given every lease (`live` counts replicas whose
    heartbeat has not run out, `holder` included). Its own leases are kept (the lowest ids
    first) up to the fair share, the rest given back; free, expired or out-of-range shards are
    taken up to the share, the lowest ids first."""
    share = fair_share(count, live)
    mine = sorted(s for s, lease in leases.items() if lease.holder == holder and s < count)
    keep, release = mine[:share], mine[share:]
    free = [
        s
        for s in range(count)
        if s not in leases or (leases[s].holder != holder and leases[s].expires_at <= now)
    ]
    taken = free[: max(share - len(keep), 0)]
    return ShardPlan(tuple(sorted(keep + taken)), tuple(release))


class ShardLeases(Protocol):
    """The part of the `Store` that keeps Discord's shards and commands across replicas."""

    async def shard_count(
        self, proposed: int | None = None, *, replace: bool = False
    ) -> int | None:
        """The shard count every replica uses. `proposed` is recorded when none is yet (the
        first replica to need one wins) or, with `replace`, always (DISCORD_SHARD_COUNT);
        changing it gives up every lease and forgets every replica (those with the new count
        come back at their next heartbeat), since a shard id means other guilds under another
        count. None: none recorded and none proposed."""
        ...

    async def balance_shards(
        self, holder: str, *, count: int, now: float, ttl_s: float, take: bool = True
    ) -> list[int]:
        """`holder`'s heartbeat: it is live until `now + ttl_s`; with `take`, it renews and
        takes shard leases as `plan_shards` says, in one transaction, leaving those to give back
        unrenewed. The shards it holds afterwards (without `take`: those it holds). A holder
        whose `count` is not the one recorded holds nothing and is not counted as live."""
        ...

    async def release_shards(self, holder: str, shards: Collection[int] | None = None) -> None:
        """`holder` has disconnected `shards`: their leases go, for others to take at once.
        None: it stops (cleanly), all its leases and its heartbeat go."""
        ...

    async def sync_once(self, name: str, digest: str, sync: Callable[[], Awaitable[None]]) -> bool:
        """Run `sync` unless `digest` is what `name` last recorded, holding a lock meanwhile so
        that of replicas starting together one syncs and the others wait, then skip. `digest`
        is recorded only when `sync` returns. Whether it ran."""
        ...
