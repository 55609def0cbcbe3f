"""The database locked by another writer while jobs move and settle: no update lost, and a
lock held past the busy timeout retried rather than left to the lease."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.models import GenerationRequest, Job, JobState, ProviderJobState, ProviderStatus
from bot.refs import Refs
from bot.scheduler import Scheduler
from storage.sqlite import SqliteStore
from tests.support import KeepingSurface, ScriptedProvider, eventually, make_service, origin


@dataclass
class Gate:
    """Steps that park until the test opens the gate; counts how many are parked."""

    opened: asyncio.Event = field(default_factory=asyncio.Event)
    parked: int = 0

    async def wait(self) -> None:
        self.parked += 1
        await self.opened.wait()


class GatedProvider(ScriptedProvider):
    """A provider whose submit or first poll parks at a gate for prompts that ask for it
    ("[hold submit]", "[hold poll]"); "[fail]" makes the job fail at the provider."""

    def __init__(self) -> None:
        super().__init__(readings=[ProviderStatus(ProviderJobState.SUCCEEDED, video_url="m://v")])
        self.submit_held = Gate()
        self.poll_held = Gate()
        self.prompts: dict[str, str] = {}

    async def submit(
        self, job_id: str, request: GenerationRequest, *, callback_url: str | None
    ) -> str:
        if "[hold submit]" in request.prompt:
            await self.submit_held.wait()
        pid = await super().submit(job_id, request, callback_url=callback_url)
        self.prompts[pid] = request.prompt
        if "[fail]" in request.prompt:
            failed = ProviderStatus(ProviderJobState.FAILED, error_message="It could not.")
            self.jobs[pid].readings = [failed]
        return pid

    async def get_status(self, provider_job_id: str) -> ProviderStatus:
        if "[hold poll]" in self.prompts[provider_job_id]:
            await self.poll_held.wait()
        return await super().get_status(provider_job_id)


@dataclass
class GatedSurface(KeepingSurface):
    """A channel whose uploads park until the gate opens."""

    upload_held: Gate = field(default_factory=Gate)

    async def deliver(self, job: Job, video: Path, *, notice: str | None) -> Refs:
        await self.upload_held.wait()
        return await super().deliver(job, video, notice=notice)


class OtherWriter:
    """Another process's connection holding the database's write lock (`BEGIN IMMEDIATE`)
    with a write of its own in it, committed when the block ends. It runs in its own thread:
    a sqlite3 connection waits (and is used) in one thread, never the event loop's."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.locked = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._hold)

    def _hold(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                """INSERT INTO quota_overrides (scope, subject, daily_s, updated_at)
                   VALUES ('user', 'chat:w1:admin-made', 77, 0)"""
            )
            self.locked.set()
            self.release.wait(timeout=30)
            db.execute("COMMIT")
        finally:
            db.close()

    async def __aenter__(self) -> OtherWriter:
        self.thread.start()
        await asyncio.to_thread(self.locked.wait, 10)
        assert self.locked.is_set()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release.set()
        await asyncio.to_thread(self.thread.join, 10)


HOLD_S = 2.0  # well under the store's busy timeout (5 s)


@pytest.mark.sqlite_only  # SQLite's write lock
async def test_a_database_locked_by_another_writer_loses_no_update(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = GatedProvider()
    surface = GatedSurface()
    service = make_service(
        store, tmp_path, providers={"scripted": provider}, surfaces={"chat": surface}
    )
    scheduler = Scheduler(service, idle_s=0.02)
    await scheduler.start()
    try:
        # Jobs parked at each step whose next move writes: recording a submit, a success, a
        # failure with its refund, and two deliveries with their charge.
        jobs = [
            await service.submit(GenerationRequest(prompt=prompt), origin())
            for prompt in ("one", "two", "[hold poll]", "[hold poll][fail]", "[hold submit]")
        ]

        async def all_parked() -> bool | None:
            gates = (surface.upload_held, provider.poll_held, provider.submit_held)
            return True if tuple(g.parked for g in gates) == (2, 2, 1) else None

        await eventually(all_parked)
        before = {j.id: (await store.get_job(j.id)) for j in jobs}
        assert [b.state.value for b in before.values() if b] == [
            "delivering",
            "delivering",
            "submitted",
            "submitted",
            "pending",
        ]

        async with OtherWriter(tmp_path / "veo.db"):
            locked_at = time.monotonic()
            for gate in (surface.upload_held, provider.poll_held, provider.submit_held):
                gate.opened.set()
            # A request arrives while the database is locked: it waits too.
            late = asyncio.create_task(service.submit(GenerationRequest(prompt="late"), origin()))
            await asyncio.sleep(HOLD_S)  # the fault itself: the lock is held this long
            assert not late.done()
            for job in jobs:  # nothing moved, and nothing failed for want of the lock
                now = await store.get_job(job.id)
                assert now == before[job.id]
            assert not [p for p in surface.posts if p.kind == "failure"]

        jobs.append(await asyncio.wait_for(late, 10))
        done = [await asyncio.wait_for(service.wait_until_done(job.id), 10) for job in jobs]
        assert time.monotonic() - locked_at >= HOLD_S
    finally:
        await scheduler.stop()

    states = [(job.request.prompt, job.state.value, job.error_code) for job in done]
    assert states == [
        ("one", "delivered", None),
        ("two", "delivered", None),
        ("[hold poll]", "delivered", None),
        ("[hold poll][fail]", "failed", "provider_failed"),
        ("[hold submit]", "delivered", None),
        ("late", "delivered", None),
    ]
    for job in done:
        assert len(surface.of(job.id, "video")) == (job.state is JobState.DELIVERED)
        assert job.poll_failures == job.delivery_failures == 0  # no step failed on the lock
    ledger = {row["job_id"]: row["status"] for row in await store.ledger()}
    assert ledger == {
        job.id: "settled" if job.state is JobState.DELIVERED else "refunded" for job in done
    }
    # The other writer's change survived alongside ours, and the books add up.
    overrides = await store.overrides()
    assert [(o.subject, o.daily_s) for o in overrides] == [("chat:w1:admin-made", 77)]
    usage = await service.quota_usage(origin())
    assert usage.in_flight == 0
    assert usage.used_today_s == sum(j.cost_s for j in done if j.state is JobState.DELIVERED)


async def test_a_lock_held_past_the_busy_timeout_is_retried_not_left_to_the_lease(
    tmp_path: Path,
) -> None:
    # A store that gives up on a lock after 0.1 s: the other writer outlasts it.
    store = await SqliteStore.open(tmp_path / "veo.db", busy_timeout_ms=100)
    provider = GatedProvider()
    surface = KeepingSurface()
    service = make_service(  # leases of 30 s: waiting one out would fail the eventually below
        store, tmp_path, providers={"scripted": provider}, surfaces={"chat": surface}
    )
    scheduler = Scheduler(service, idle_s=0.02, step_retry_s=0.05)
    await scheduler.start()
    try:
        job = await service.submit(GenerationRequest(prompt="[hold poll]"), origin())
        await eventually(lambda: _parked(provider))
        [scripted] = provider.jobs.values()
        async with OtherWriter(tmp_path / "veo.db"):
            provider.poll_held.opened.set()
            # The poll's answer cannot be written; the step is taken up again, and again.
            await eventually(lambda: _at_least(scripted.polls, 3), timeout_s=5)
            assert (await store.get_job(job.id)).state is JobState.SUBMITTED  # type: ignore[union-attr]
        done = await asyncio.wait_for(service.wait_until_done(job.id), 5)
    finally:
        await scheduler.stop()
        await store.close()

    assert done.state is JobState.DELIVERED
    assert len(surface.videos[job.id]) == 1
    [row] = await _ledger(tmp_path)
    assert row == "settled"


async def _parked(provider: GatedProvider) -> bool | None:
    return True if provider.poll_held.parked else None


async def _at_least(value: int, least: int) -> bool | None:
    return True if value >= least else None


async def _ledger(tmp_path: Path) -> list[str]:
    with sqlite3.connect(tmp_path / "veo.db") as db:
        return [status for (status,) in db.execute("SELECT status FROM quota_ledger")]
