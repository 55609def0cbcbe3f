"""Leases across replicas, on SQLite and PostgreSQL: the worker that steps a job is the one
its lease names, a schedule (the next poll) names nobody, a step's short lease is renewed by
its worker's heartbeat while it runs, and a job whose holder died, or stopped renewing, is
taken up at once (on this host) or within one lease, never after a long wait.

The stuck-lease bug these pin down: a callback made a job due while replica A polled it, B
claimed it (the lease named B), A's poll saw it finished and A delivered it under B's name;
A died mid-delivery, and since B was alive nobody took the job up until B's lease ran out."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from adapters.providers.gateway import GatewayProvider
from bot.clock import Clock, SystemClock
from bot.jobs import JobService
from bot.links import MediaLinks
from bot.models import GenerationRequest, Job, JobState
from bot.scheduler import Scheduler
from storage import open_store
from tests.fakes import gateway
from tests.support import KeepingSurface, SkippingClock, eventually, make_service, origin
from tests.test_store_conformance import LIMITS, NOW, PERIOD, job

if TYPE_CHECKING:
    from storage import AnyStore

CONTENT = "/v1/videos/*/content"


# --- the store's side ------------------------------------------------------------------------


async def test_a_schedule_names_no_holder_and_a_lease_names_its_worker(
    any_store: AnyStore,
) -> None:
    await any_store.create_job(job("a"), [], LIMITS, PERIOD)
    [claimed] = await any_store.claim_due(
        now=NOW, lease_s=30, limit=1, platforms=["chat"], holder="A"
    )
    assert claimed.leased_by == "A"
    polled = await any_store.update("a", version=claimed.version, now=NOW, due_at=NOW + 10)
    assert polled is not None and polled.leased_by is None  # the next poll: nobody's
    leased = await any_store.update(
        "a", version=polled.version, now=NOW, due_at=NOW + 30, leased_by="B"
    )
    assert leased is not None and leased.leased_by == "B"
    moved = await any_store.transition(
        "a", (JobState.PENDING,), JobState.SUBMITTED, now=NOW, due_at=NOW + 5
    )
    assert moved is not None and moved.leased_by is None
    # Other fields leave the holder as it is.
    kept = await any_store.update("a", version=moved.version, now=NOW, progress=5)
    assert kept is not None and kept.due_at == NOW + 5


async def test_a_heartbeat_renews_only_the_leases_still_held_and_changes_no_version(
    any_store: AnyStore,
) -> None:
    for name in ("mine", "scheduled", "done"):
        await any_store.create_job(job(name), [], LIMITS, PERIOD)
    claimed = await any_store.claim_due(
        now=NOW, lease_s=30, limit=10, platforms=["chat"], holder="A"
    )
    by_id = {j.id: j for j in claimed}
    await any_store.update("scheduled", version=by_id["scheduled"].version, now=NOW, due_at=NOW + 9)
    await any_store.transition("done", (JobState.PENDING,), JobState.CANCELLED, now=NOW)

    held = await any_store.renew_leases(
        ["mine", "scheduled", "done", "missing"], holder="A", until=NOW + 50
    )
    assert held == ["mine"]
    mine = await any_store.get_job("mine")
    assert mine is not None and (mine.due_at, mine.version) == (NOW + 50, by_id["mine"].version)
    scheduled = await any_store.get_job("scheduled")
    assert scheduled is not None and scheduled.due_at == NOW + 9
    assert await any_store.renew_leases(["mine"], holder="B", until=NOW + 90) == []
    assert await any_store.renew_leases([], holder="A", until=NOW + 90) == []

    # A stops renewing: once its lease is over, B takes the job, and is told from whom.
    assert (
        await any_store.claim_due(
            now=NOW + 49, lease_s=30, limit=10, platforms=["chat"], exclude=["scheduled"]
        )
        == []
    )
    [taken] = await any_store.claim_due(
        now=NOW + 50, lease_s=30, limit=10, platforms=["chat"], exclude=["scheduled"], holder="B"
    )
    assert (taken.id, taken.leased_by, taken.lease_taken_from) == ("mine", "B", "A")
    assert await any_store.renew_leases(["mine"], holder="A", until=NOW + 99) == []
    [again] = await any_store.claim_due(
        now=NOW + 80, lease_s=30, limit=10, platforms=["chat"], exclude=["scheduled"], holder="B"
    )
    assert again.lease_taken_from is None  # its own lease, not a takeover


# --- replicas ---------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def two_replicas(
    database_url: str, tmp_path: Path, clock: Clock, *, lease_s: float
) -> AsyncIterator[tuple[gateway.GatewayFake, KeepingSurface, JobService, JobService]]:
    """Two job services (two replicas) on one database, one provider and one chat."""
    fake = gateway.GatewayFake(job_duration_s=0)
    await fake.start()
    provider = GatewayProvider(fake.base_url, gateway.API_KEY, MediaLinks(None, "s", SystemClock()))
    stores = [await open_store(database_url), await open_store(database_url)]
    surface = KeepingSurface()
    services = [
        make_service(
            store,
            tmp_path / f"replica-{index}",
            providers={"gateway": provider},
            surfaces={"chat": surface},
            default_provider="gateway",
            clock=clock,
            job_timeout_s=3600,
            lease_s=lease_s,
        )
        for index, store in enumerate(stores)
    ]
    try:
        yield fake, surface, services[0], services[1]
    finally:
        for store in stores:
            await store.close()
        await provider.aclose()
        await fake.close()


@contextlib.asynccontextmanager
async def scheduled(service: JobService) -> AsyncIterator[Scheduler]:
    scheduler = Scheduler(service, idle_s=0.02)
    await scheduler.start()
    try:
        yield scheduler
    finally:
        await scheduler.stop()


async def claim(service: JobService, now: float) -> list[Job]:
    return await service.store.claim_due(
        now=now,
        lease_s=service.config.lease_s,
        limit=10,
        platforms=["chat"],
        holder=service.config.worker_id,
    )


async def stored(service: JobService, job_id: str) -> Job:
    found = await service.store.get_job(job_id)
    assert found is not None
    return found


async def test_a_job_delivered_by_a_replica_that_dies_is_taken_up_at_once_by_another(
    database_url: str, tmp_path: Path
) -> None:
    clock = SystemClock()
    # A long lease: the test ends long before it could run out, so nothing may wait for it.
    async with two_replicas(database_url, tmp_path, clock, lease_s=300) as replicas:
        fake, surface, a, b = replicas
        held = fake.trickle(CONTENT, head=1000)
        made = await a.submit(GenerationRequest(prompt="a lighthouse at dusk"), origin())
        [pending] = await claim(a, clock.now())
        await a.advance(pending)  # submitted; the next poll is scheduled
        [polling] = await eventually(lambda: _claimed(a, clock.now()), timeout_s=5)

        # While A polls, a callback at B makes the job due, and B claims it.
        assert await b.on_callback(await stored(b, made.id)) == "polling"
        [claimed_by_b] = await claim(b, clock.now())
        assert claimed_by_b.leased_by == b.config.worker_id

        # A's poll sees the video made, and A delivers it: the lease names A now.
        delivering = asyncio.create_task(a.advance(polling))
        async with asyncio.timeout(10):
            await held.started.wait()
        row = await stored(a, made.id)
        assert (row.state, row.leased_by) == (JobState.DELIVERING, a.config.worker_id)

        # A dies mid-delivery. B, alive, sees A's lease is a dead worker's and takes it up.
        delivering.cancel()
        await asyncio.gather(delivering, return_exceptions=True)
        held.release()
        async with scheduled(b):
            done = await eventually(lambda: _terminal(b, made.id), timeout_s=20, step_s=0.02)
        assert done.state is JobState.DELIVERED
        assert surface.videos[made.id] == [fake.video]  # posted once
        assert b.metrics.value("veo_lease_takeovers_total") == 1
        assert b.metrics.value("veo_claims_total") >= 1


async def test_a_long_step_keeps_its_lease_by_renewing_it(
    database_url: str, tmp_path: Path
) -> None:
    clock = SkippingClock()
    async with two_replicas(database_url, tmp_path, clock, lease_s=30) as replicas:
        fake, surface, a, b = replicas
        held = fake.trickle(CONTENT, head=1000)
        async with scheduled(a) as scheduler:
            made = await a.submit(GenerationRequest(prompt="a slow download"), origin())
            async with asyncio.timeout(10):
                await held.started.wait()
            # Well past the lease it took: A's heartbeat has renewed it meanwhile.
            for _ in range(3):
                clock.skip(20)
                scheduler.wake()
                await eventually(lambda: _lease_beyond(a, made.id, clock.now() + 15), timeout_s=5)
                assert await claim(b, clock.now()) == []  # not B's to take
            held.release()
            done = await eventually(lambda: _terminal(a, made.id), timeout_s=10, step_s=0.02)
        assert done.state is JobState.DELIVERED and done.leased_by == a.config.worker_id
        assert surface.videos[made.id] == [fake.video]
        assert a.metrics.value("veo_lease_takeovers_total") == 0


async def test_a_lease_whose_holder_stopped_renewing_is_taken_within_one_lease(
    database_url: str, tmp_path: Path
) -> None:
    clock = SkippingClock()
    async with two_replicas(database_url, tmp_path, clock, lease_s=30) as replicas:
        _fake, surface, _a, b = replicas
        made = await b.submit(GenerationRequest(prompt="a silent replica"), origin())
        # A replica on another host claimed it and went silent: nothing here can tell it died.
        silent = "elsewhere:1:aa"
        await b.store.claim_due(
            now=clock.now(), lease_s=30, limit=1, platforms=["chat"], holder=silent
        )
        async with scheduled(b) as scheduler:
            assert (await stored(b, made.id)).leased_by == silent
            clock.skip(31)
            scheduler.wake()
            done = await eventually(lambda: _terminal(b, made.id), timeout_s=10, step_s=0.02)
        assert done.state is JobState.DELIVERED and len(surface.videos[made.id]) == 1
        assert b.metrics.value("veo_lease_takeovers_total") == 1


async def _claimed(service: JobService, now: float) -> list[Job] | None:
    return await claim(service, now) or None


async def _terminal(service: JobService, job_id: str) -> Job | None:
    found = await stored(service, job_id)
    return found if found.state.is_terminal else None


async def _lease_beyond(service: JobService, job_id: str, when: float) -> Job | None:
    found = await stored(service, job_id)
    return found if (found.due_at or 0) > when else None
