"""This replica's share of Discord's shards (issue 16, fifth part): the shard count agreed in
the database (DISCORD_SHARD_COUNT, or Discord's recommendation read by the first replica that
needs it), leases renewed on a heartbeat (`bot.shards`), and the gateway connections following
the leases: a shard taken is connected; a shard to give back is disconnected, then released;
a lost one (its lease ran out while the database did not answer) is disconnected."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import discord

from adapters.discord._client import VeoClient
from bot.clock import Clock, SystemClock
from bot.errors import ConfigurationError
from bot.i18n import _
from bot.shards import ShardLeases
from bot.workers import new_worker_id

log = logging.getLogger(__name__)


class ShardKeeper:
    """Holds this replica's shards while the adapter runs."""

    def __init__(
        self,
        client: VeoClient,
        *,
        configured_count: int | None,
        renew_s: float,
        ttl_s: float,
        settle_s: float,
        clock: Clock | None = None,
    ) -> None:
        self._client = client
        self._configured = configured_count
        self._renew_s = renew_s
        self._ttl_s = ttl_s
        self._settle_s = settle_s
        self._clock = clock or SystemClock()
        self.holder = new_worker_id()
        self.count = 0
        # What the leases say this replica holds, and until when that is sure.
        self.held: tuple[int, ...] = ()
        self._sure_until = 0.0
        self._changed = asyncio.Event()
        # A renewal and a release never interleave: a shard is released only while the
        # leases still say it is not held.
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._store: ShardLeases | None = None

    async def start(self, store: ShardLeases) -> None:
        """Agree on the count, announce this replica, let replicas starting together see each
        other (`settle_s`), then take a share and keep it in the background."""
        self._store = store
        self.count = await self._shard_count(store)
        self._client.set_shard_count(self.count)
        await store.balance_shards(
            self.holder, count=self.count, now=self._clock.now(), ttl_s=self._ttl_s, take=False
        )
        self._tasks = [
            asyncio.create_task(self._heartbeat(), name="discord-shard-leases"),
            asyncio.create_task(self._follow(), name="discord-shards"),
        ]
        log.info("Discord: %d shards, this replica is %s", self.count, self.holder)

    async def _shard_count(self, store: ShardLeases) -> int:
        """DISCORD_SHARD_COUNT (recorded for all), else the recorded count, else Discord's
        recommendation, recorded unless another replica recorded one first. Discord's answer
        also says how many identifies may run at once (`max_concurrency`)."""
        recommended: int | None = None
        try:
            shards, _url, session_start = await self._client.http.get_bot_gateway()
        except discord.GatewayNotFound:
            log.warning("Discord did not answer GET /gateway/bot; identifying one at a time")
        else:
            recommended = int(shards)
            self._client.max_concurrency = int(session_start.get("max_concurrency", 1) or 1)
        if self._configured is not None:
            count = await store.shard_count(self._configured, replace=True)
        else:
            count = await store.shard_count(recommended)
        if count is None:
            raise ConfigurationError(
                _(
                    "Discord did not say how many shards to use (GET /gateway/bot failed); set "
                    "DISCORD_SHARD_COUNT, or start again once Discord answers."
                )
            )
        return count

    async def _heartbeat(self) -> None:
        await asyncio.sleep(self._settle_s)
        while True:
            renewal = asyncio.ensure_future(self.renew())
            try:
                await self._within_leases(renewal)
            finally:
                renewal.cancel()
            await asyncio.sleep(self._renew_s)

    async def _within_leases(self, renewal: asyncio.Future[None]) -> None:
        """Wait for a renewal; if the leases run out first (the database hangs), the shards
        are disconnected meanwhile, whatever the renewal says later."""
        while not renewal.done():
            wait_s = max(self._sure_until - self._clock.now(), 0.0) if self.held else None
            await asyncio.wait({renewal}, timeout=wait_s)
            if not renewal.done() and self.held and self._clock.now() >= self._sure_until:
                log.error("Discord shards %s lost: their leases ran out", list(self.held))
                self._set(())

    async def renew(self) -> None:
        """One heartbeat: renew, give back and take leases. When the database does not answer,
        the shards are kept only as long as their leases surely run, then disconnected:
        another replica may hold them (`_within_leases` sees to it while a renewal hangs)."""
        assert self._store is not None
        now = self._clock.now()
        try:
            async with self._lock:
                await self._follow_count(self._store)
                held = await self._store.balance_shards(
                    self.holder, count=self.count, now=now, ttl_s=self._ttl_s
                )
        except Exception as exc:  # the database is away: the leases run out under us
            log.warning("could not renew the Discord shard leases: %s", type(exc).__name__)
            if self.held and self._clock.now() >= self._sure_until:
                log.error("Discord shards %s lost: their leases ran out", list(self.held))
                self._set(())
            return
        if self._clock.now() >= now + self._ttl_s:
            # The answer came after the leases it renewed ran out: someone may hold them.
            log.error("renewing the Discord shard leases took longer than their TTL")
            self._set(())
            return
        self._sure_until = now + self._ttl_s
        if tuple(held) != self.held:
            log.info("Discord shards held: %s", held)
            self._set(tuple(held))
        elif not self.connected():
            self._changed.set()

    async def _follow_count(self, store: ShardLeases) -> None:
        """Without DISCORD_SHARD_COUNT, adopt the count recorded (another replica's
        DISCORD_SHARD_COUNT changed it): every shard is disconnected, then taken anew. With
        it, a different recorded count (replicas configured differently) leaves this replica
        without shards until they agree."""
        stored = await store.shard_count()
        if stored is None or stored == self.count:
            return
        if self._configured is not None:
            log.error(
                "DISCORD_SHARD_COUNT is %d here but %d in the database (set by another "
                "replica): this replica connects no shard until they agree",
                self._configured,
                stored,
            )
            return
        log.warning("the Discord shard count changed from %d to %d", self.count, stored)
        # A shard id means other guilds under another count: every connection goes.
        for shard in list(self._client.shard_ids or []):
            await self._client.disconnect_shard(shard)
        self.held = ()
        self.count = stored
        self._client.set_shard_count(stored)

    def _set(self, held: tuple[int, ...]) -> None:
        self.held = held
        self._changed.set()

    async def _follow(self) -> None:
        """Make the connections match `held`, one change at a time: disconnect first (so a
        shard given back is free of us before anyone takes it), then connect."""
        assert self._store is not None
        while True:
            await self._changed.wait()
            self._changed.clear()
            try:
                await self._reconcile(self._store)
            except Exception:
                # The next heartbeat tries again (it sees a held shard not connected).
                log.exception("could not connect the Discord shards %s", list(self.held))

    async def _reconcile(self, store: ShardLeases) -> None:
        wanted = set(self.held)
        for shard in sorted(s for s in self._client.shard_ids or [] if s not in wanted):
            await self._client.disconnect_shard(shard)
            with contextlib.suppress(Exception):  # else its lease runs out
                async with self._lock:
                    if shard not in self.held:
                        await store.release_shards(self.holder, [shard])
        for shard in sorted(wanted):
            if shard not in set(self.held):
                break  # lost meanwhile: the next round disconnects it
            if not self._client.shard_connected(shard):
                await self._client.connect_shard(shard)

    def connected(self) -> bool:
        """Every held shard's connection is open (true when none is held)."""
        return all(self._client.shard_connected(s) for s in self.held)

    async def close(self) -> None:
        """Stop renewing, disconnect, and give the shards back for others to take at once."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        for shard in list(self._client.shard_ids or []):
            with contextlib.suppress(Exception):
                await self._client.disconnect_shard(shard)
        self.held = ()
        if self._store is not None:
            with contextlib.suppress(Exception):
                await self._store.release_shards(self.holder)
