"""Wake-ups across replicas on PostgreSQL (LISTEN/NOTIFY on channel `veo_jobs`): a job
created on replica A is submitted at once by replica B, whose scheduler would otherwise sleep
for its whole idle wait; B listens again after its listening connection is cut, and says so
once. On SQLite the store has nothing to tell nor hear (one server process)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bot.jobs import JobService
from bot.models import GenerationRequest, Job, ProviderJobState, ProviderStatus
from bot.scheduler import Scheduler
from storage import open_store
from storage.listen import PostgresListener, parse, payload
from tests.support import RecordingSurface, ScriptedProvider, eventually, make_service, origin

REQUEST = GenerationRequest(prompt="a lighthouse in fog")
IDLE_S = 60.0  # B never polls within a test: only a wake-up makes it look


@contextlib.asynccontextmanager
async def replicas(
    url: str, tmp_path: Path, provider: ScriptedProvider
) -> AsyncIterator[tuple[JobService, JobService, Scheduler]]:
    """Replica A (takes requests, its scheduler not running) and replica B (its scheduler
    running, idle for a minute between looks), on one database."""
    stores = [await open_store(url), await open_store(url)]
    surface = RecordingSurface()
    a, b = (
        make_service(
            store,
            tmp_path / name,
            providers={"scripted": provider},
            surfaces={"chat": surface},
            lease_s=3 * IDLE_S,  # nor does B's lease heartbeat wake it
            poll_interval_s=IDLE_S,  # nor a poll it planned
        )
        for name, store in zip("ab", stores, strict=True)
    )
    scheduler = Scheduler(b, idle_s=IDLE_S)
    await scheduler.start()
    try:
        yield a, b, scheduler
    finally:
        await scheduler.stop()
        for store in stores:
            await store.close()


async def submitted_within(provider: ScriptedProvider, service: JobService) -> float:
    """Submit a job on `service`; seconds until the provider saw it submitted."""
    provider.submitted.clear()
    started = time.perf_counter()
    await service.submit(REQUEST, origin())
    async with asyncio.timeout(5):
        await provider.submitted.wait()
    return time.perf_counter() - started


async def test_a_job_created_on_one_replica_is_submitted_at_once_by_another(
    postgres_url: str, tmp_path: Path
) -> None:
    provider = ScriptedProvider()
    async with replicas(postgres_url, tmp_path, provider) as (a, b, _scheduler):
        seconds = await submitted_within(provider, a)
        print(f"created on A, submitted by B after {seconds * 1000:.1f} ms")
        assert seconds < 1.0  # B's idle wait is a minute
        assert a.metrics.value("veo_notify_sent_total", event="created") == 1
        assert b.metrics.value("veo_notify_received_total", event="created") == 1
        assert b.metrics.value("veo_claims_total") >= 1


async def test_a_callback_on_one_replica_wakes_another_to_poll(
    postgres_url: str, tmp_path: Path
) -> None:
    provider = ScriptedProvider([ProviderStatus(ProviderJobState.RUNNING, progress=10)])
    async with replicas(postgres_url, tmp_path, provider) as (a, b, _scheduler):
        await submitted_within(provider, a)
        [job] = await a.store.recent_jobs(1)
        job = await eventually(lambda: _submitted(a, job.id), timeout_s=5)
        polls = provider.jobs[job.provider_job_id or ""].polls
        provider.polled.clear()
        assert await a.on_callback(job) == "polling"
        async with asyncio.timeout(5):
            await provider.polled.wait()
        assert provider.jobs[job.provider_job_id or ""].polls == polls + 1
        assert b.metrics.value("veo_notify_received_total", event="callback") == 1


async def test_a_cancel_on_one_replica_is_heard_by_the_others(
    postgres_url: str, tmp_path: Path
) -> None:
    provider = ScriptedProvider([ProviderStatus(ProviderJobState.RUNNING, progress=10)])
    async with replicas(postgres_url, tmp_path, provider) as (a, b, _scheduler):
        await submitted_within(provider, a)
        [job] = await a.store.recent_jobs(1)
        job = await eventually(lambda: _submitted(a, job.id), timeout_s=5)
        await a.cancel(job.id, who="the requester")
        assert a.metrics.value("veo_notify_sent_total", event="cancelled") == 1
        await eventually(lambda: _heard(b, "cancelled"), timeout_s=5)


async def _heard(service: JobService, event: str) -> bool | None:
    return service.metrics.value("veo_notify_received_total", event=event) >= 1 or None


async def test_a_replica_listens_again_after_its_connection_is_cut(
    postgres_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    provider = ScriptedProvider()
    async with replicas(postgres_url, tmp_path, provider) as (a, b, scheduler):
        listener = scheduler.listening
        assert isinstance(listener, PostgresListener) and listener.backend_pid is not None
        cut = listener.backend_pid
        with caplog.at_level(logging.INFO, logger="storage.listen"):
            admin = await asyncpg.connect(postgres_url)
            try:
                assert await admin.fetchval("SELECT pg_terminate_backend($1)", cut)
            finally:
                await admin.close()
            await eventually(lambda: _listening_again(listener, cut), timeout_s=10)
        assert b.metrics.value("veo_notify_received_total", event="listening") == 1
        said = [r.getMessage() for r in caplog.records if r.name == "storage.listen"]
        assert said == [
            "lost the connection that listens for job events; reconnecting",
            "listening for job events again",
        ]
        assert await submitted_within(provider, a) < 1.0


async def test_sqlite_has_no_one_to_tell(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'veo.db'}")
    try:
        await store.notify("created", "nobody")
        heard: list[tuple[str, str]] = []
        listening = await store.listen(lambda event, job_id: heard.append((event, job_id)))
        await listening.close()
        assert heard == []
    finally:
        await store.close()


def test_a_payload_names_the_event_and_the_job() -> None:
    assert payload("created", "ab12") == "created:ab12"
    assert parse("callback:ab12") == ("callback", "ab12")
    assert parse("due:*") == ("due", "*")
    assert parse("listening") == ("listening", "")


async def _submitted(service: JobService, job_id: str) -> Job | None:
    job = await service.store.get_job(job_id)
    return job if job is not None and job.provider_job_id is not None else None


async def _listening_again(listener: PostgresListener, cut: int) -> bool | None:
    pid = listener.backend_pid
    return True if listener.listening.is_set() and pid is not None and pid != cut else None
