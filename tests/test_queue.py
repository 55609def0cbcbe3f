"""Issue 18 parts 1 and 3 in the core: a request over its requester's concurrency limit waits
at the bot (`queued`) instead of being refused, starts when a slot frees, fairly; and Cancel at
every stage, with its quota outcome. Each test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot import texts
from bot.errors import InvalidRequest, QuotaExceeded
from bot.jobs import JobService
from bot.models import (
    GenerationRequest,
    Job,
    JobState,
    ProviderJobState,
    ProviderStatus,
    QuotaLimits,
)
from bot.quota import USER_DAILY
from storage import open_store
from tests.support import Post, RecordingSurface, ScriptedProvider, make_service, origin

if TYPE_CHECKING:
    from storage import AnyStore

REQUEST = GenerationRequest(prompt="waves at dusk", duration_s=8)
ONE_AT_A_TIME = QuotaLimits(user_daily_s=40, user_concurrent=1, workspace_monthly_s=0)


@dataclass
class PlaceSurface(RecordingSurface):
    """Records the place line of every card drawn, as people would read it."""

    async def post_status(self, job: Job):  # type: ignore[no-untyped-def]
        self.posts.append(Post(job.id, "place", texts.queue_place(job) or ""))
        return await super().post_status(job)

    async def update_progress(self, job: Job) -> None:
        self.posts.append(Post(job.id, "place", texts.queue_place(job) or ""))
        await super().update_progress(job)

    def places(self, job_id: str) -> list[str]:
        return [p.text for p in self.of(job_id, "place")]


class StoppableProvider(ScriptedProvider):
    """A scripted provider whose cancel call confirms or not, as the test says."""

    def __init__(self, *, confirms: bool = True, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.confirms = confirms

    async def cancel(self, provider_job_id: str) -> bool:
        self.cancelled.append(provider_job_id)
        return self.confirms


def service_for(
    store: AnyStore,
    tmp_path: Path,
    provider: ScriptedProvider | None = None,
    surface: RecordingSurface | None = None,
) -> tuple[JobService, ScriptedProvider, PlaceSurface]:
    provider = provider or ScriptedProvider()
    chat = surface if isinstance(surface, PlaceSurface) else PlaceSurface()
    service = make_service(
        store,
        tmp_path,
        providers={"scripted": provider},
        surfaces={"chat": chat},
        limits=ONE_AT_A_TIME,
    )
    return service, provider, chat


async def step(service: JobService, job_id: str) -> Job:
    """One scheduler step for the job, as it is in the store now; the job after it."""
    job = await service.get_job(job_id)
    assert job is not None
    await service.advance(job)
    after = await service.get_job(job_id)
    assert after is not None
    return after


async def finish(service: JobService, job_id: str) -> Job:
    for _ in range(20):
        job = await step(service, job_id)
        if job.state.is_terminal:
            return job
    raise AssertionError(f"job {job_id} did not finish")


async def ledger(store: AnyStore, job_id: str) -> str:
    [row] = await store.ledger([job_id])
    return str(row["status"])


@pytest.fixture
def store(any_store: AnyStore) -> AnyStore:
    return any_store


async def test_over_the_concurrency_limit_a_request_waits_in_order_and_starts_when_a_slot_frees(
    store: AnyStore, tmp_path: Path
) -> None:
    service, provider, chat = service_for(store, tmp_path)

    first = await service.submit(REQUEST, origin())
    second = await service.submit(REQUEST, origin())
    third = await service.submit(REQUEST, origin())

    assert [first.state, second.state, third.state] == [
        JobState.PENDING,
        JobState.QUEUED,
        JobState.QUEUED,
    ]
    # Waiting jobs are committed: their seconds are reserved, not charged, and not in flight.
    usage = await service.quota_usage(origin())
    assert (usage.used_today_s, usage.in_flight) == (24, 1)
    assert await ledger(store, third.id) == "reserved"

    await step(service, second.id)
    await step(service, third.id)
    assert chat.places(second.id) == ["Queued — next in line"]
    assert chat.places(third.id) == ["Queued — 1 ahead of you"]
    assert provider.submits == []

    # Its turn comes only when the first ends; it then gets its whole timeout.
    assert (await step(service, second.id)).state is JobState.QUEUED
    done = await finish(service, first.id)
    assert done.state is JobState.DELIVERED
    due = await service.get_job(second.id)
    assert due is not None and due.due_at is not None and due.due_at <= done.updated_at
    started = await step(service, second.id)
    assert started.state is JobState.PENDING
    assert started.deadline_at > second.deadline_at
    # The third's card says it moved up.
    await step(service, third.id)
    assert chat.places(third.id)[-1] == "Queued — next in line"
    assert (await finish(service, second.id)).state is JobState.DELIVERED
    assert (await step(service, third.id)).state is JobState.PENDING


async def test_daily_quota_still_refuses_counting_waiting_jobs_as_committed(
    store: AnyStore, tmp_path: Path
) -> None:
    service, _, _ = service_for(store, tmp_path)

    results = await asyncio.gather(
        *(service.submit(REQUEST, origin()) for _ in range(8)), return_exceptions=True
    )

    jobs = [r for r in results if isinstance(r, Job)]
    refusals = [r for r in results if isinstance(r, QuotaExceeded)]
    assert sorted(j.state for j in jobs) == sorted([JobState.PENDING] + [JobState.QUEUED] * 4)
    assert len(refusals) == 3 and {r.limit for r in refusals} == {USER_DAILY}


async def test_one_persons_batch_never_holds_up_another_and_oldest_goes_first(
    store: AnyStore, tmp_path: Path
) -> None:
    service, _, chat = service_for(store, tmp_path)
    batch = [await service.submit(REQUEST, origin("alice")) for _ in range(4)]
    bob = await service.submit(REQUEST, origin("bob"))

    assert [j.state for j in batch] == [JobState.PENDING] + [JobState.QUEUED] * 3
    assert bob.state is JobState.PENDING  # not behind alice's batch

    await finish(service, batch[0].id)
    # A younger job of alice's does not jump the queue, even stepped first.
    assert (await step(service, batch[3].id)).state is JobState.QUEUED
    assert (await step(service, batch[2].id)).state is JobState.QUEUED
    assert (await step(service, batch[1].id)).state is JobState.PENDING
    # And a request arriving while older ones wait queues behind them.
    late = await service.submit(REQUEST, origin("alice"))
    assert late.state is JobState.QUEUED
    await step(service, late.id)
    assert chat.places(late.id) == ["Queued — 2 ahead of you"]


async def test_waiting_jobs_survive_a_restart(database_url: str, tmp_path: Path) -> None:
    store = await open_store(database_url)
    try:
        service, _, _ = service_for(store, tmp_path)
        running = await service.submit(REQUEST, origin())
        waiting = await service.submit(REQUEST, origin())
        await step(service, running.id)  # submitted to the provider
    finally:
        await store.close()

    store = await open_store(database_url)
    try:
        service, _, _ = service_for(store, tmp_path / "again")
        again = await service.get_job(waiting.id)
        assert again is not None and again.state is JobState.QUEUED
        await service.cancel(running.id, who="an admin")
        assert (await step(service, waiting.id)).state is JobState.PENDING
        assert (await finish(service, waiting.id)).state is JobState.DELIVERED
    finally:
        await store.close()


# --- cancel -----------------------------------------------------------------------------------


async def test_cancel_while_queued_refunds_and_never_reaches_the_provider(
    store: AnyStore, tmp_path: Path
) -> None:
    service, provider, chat = service_for(store, tmp_path)
    first = await service.submit(REQUEST, origin())
    waiting = await service.submit(REQUEST, origin())
    behind = await service.submit(REQUEST, origin())
    await step(service, waiting.id)
    await step(service, behind.id)

    said = await service.cancel(waiting.id, who="@ann")

    assert said == texts.cancelled_refunded("@ann", 8)
    assert said.startswith("Cancelled by @ann — refunded")
    job = await service.get_job(waiting.id)
    assert job is not None and job.state is JobState.CANCELLED
    assert await ledger(store, waiting.id) == "refunded"
    assert [p.text for p in chat.of(waiting.id, "failure")] == [said]
    # The one behind it moves up; a second click says the same and changes nothing.
    await step(service, behind.id)
    assert chat.places(behind.id)[-1] == "Queued — next in line"
    assert await service.cancel(waiting.id, who="@bob") == said
    assert len(chat.of(waiting.id, "failure")) == 1
    assert provider.submits == [] or provider.submits == [first.id]
    assert waiting.id not in provider.submits


async def test_cancel_before_submit_refunds(store: AnyStore, tmp_path: Path) -> None:
    service, provider, _ = service_for(store, tmp_path)
    job = await service.submit(REQUEST, origin())

    said = await service.cancel(job.id, who="@ann")

    assert "refunded" in said
    assert await ledger(store, job.id) == "refunded"
    assert (await step(service, job.id)).state is JobState.CANCELLED
    assert provider.submits == []


@pytest.mark.parametrize(("confirms", "outcome"), [(True, "refunded"), (False, "settled")])
async def test_cancel_at_the_provider_says_plainly_whether_it_was_charged(
    store: AnyStore, tmp_path: Path, confirms: bool, outcome: str
) -> None:
    provider = StoppableProvider(confirms=confirms)
    service, _, chat = service_for(store, tmp_path, provider)
    job = await service.submit(REQUEST, origin())
    running = await step(service, job.id)
    running = await step(service, job.id)
    assert running.state is JobState.RUNNING

    said = await service.cancel(job.id, who="@ann")

    assert provider.cancelled == [running.provider_job_id]
    assert await ledger(store, job.id) == outcome
    expected = (
        texts.cancelled_refunded("@ann", 8) if confirms else texts.cancelled_charged("@ann", 8)
    )
    assert said == expected
    # Whatever the provider does next, no video is posted.
    assert (await step(service, job.id)).state is JobState.CANCELLED
    assert chat.of(job.id, "video") == []
    usage = await service.quota_usage(origin())
    assert usage.used_today_s == (0 if confirms else 8)


async def test_a_video_made_but_cancelled_before_posting_is_charged_and_never_posted(
    store: AnyStore, tmp_path: Path
) -> None:
    """The race with delivery, made deterministic: the provider finished, and Cancel comes
    between that reading and the delivery's claim; the claim is a compare-and-set, so it
    loses and nothing is posted."""
    provider = ScriptedProvider([ProviderStatus(ProviderJobState.SUCCEEDED, video_url="mem://v")])
    service, _, chat = service_for(store, tmp_path, provider)
    job = await service.submit(REQUEST, origin())
    submitted = await step(service, job.id)
    made = await store.transition(
        job.id,
        (JobState.SUBMITTED,),
        JobState.SUCCEEDED,
        now=submitted.updated_at,
        result_url="mem://v",
    )
    assert made is not None

    said = await service.cancel(job.id, who="@ann")
    await service.apply_status(
        made, ProviderStatus(ProviderJobState.SUCCEEDED, video_url="mem://v")
    )
    await step(service, job.id)

    assert said == texts.cancelled_after_made("@ann", 8)
    assert await ledger(store, job.id) == "settled"
    assert chat.of(job.id, "video") == []
    assert provider.downloads == 0


async def test_cancel_once_posting_has_begun_is_too_late(store: AnyStore, tmp_path: Path) -> None:
    service, _, _ = service_for(store, tmp_path)
    job = await service.submit(REQUEST, origin())
    submitted = await step(service, job.id)
    for state in (JobState.SUCCEEDED, JobState.DELIVERING):
        moved = await store.transition(
            job.id, (submitted.state, JobState.SUCCEEDED), state, now=submitted.updated_at
        )
        assert moved is not None

    with pytest.raises(InvalidRequest) as refused:
        await service.cancel(job.id, who="@ann")
    assert refused.value.user_message == texts.too_late_to_cancel()
    done = await finish(service, job.id)
    assert done.state is JobState.DELIVERED
    with pytest.raises(InvalidRequest) as over:
        await service.cancel(job.id, who="@ann")
    assert over.value.user_message == texts.nothing_to_cancel()


async def test_a_job_cancelled_while_its_submit_was_on_the_way_is_stopped_at_the_provider(
    store: AnyStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider()
    provider.submit_gate = asyncio.Event()
    service, _, chat = service_for(store, tmp_path, provider)
    job = await service.submit(REQUEST, origin())
    pending = await service.get_job(job.id)
    assert pending is not None

    stepping = asyncio.create_task(service.advance(pending))
    await provider.submitted.wait()
    said = await service.cancel(job.id, who="@ann")
    provider.submit_gate.set()
    await stepping

    assert "refunded" in said
    final = await service.get_job(job.id)
    assert final is not None and final.state is JobState.CANCELLED
    assert len(provider.cancelled) == 1
    assert chat.of(job.id, "video") == []


async def test_two_cancels_at_once_cancel_once(store: AnyStore, tmp_path: Path) -> None:
    service, _, chat = service_for(store, tmp_path)
    job = await service.submit(REQUEST, origin())
    await step(service, job.id)

    first, second = await asyncio.gather(
        service.cancel(job.id, who="@ann"), service.cancel(job.id, who="@ann")
    )

    assert first == second
    assert len(chat.of(job.id, "failure")) == 1
    assert service.metrics.value("veo_jobs_cancelled_total", outcome="cancelled_refunded") == 1


async def test_a_step_that_read_a_waiting_job_before_it_was_cancelled_draws_nothing(
    store: AnyStore, tmp_path: Path
) -> None:
    service, _, chat = service_for(store, tmp_path)
    await service.submit(REQUEST, origin())
    ahead = await service.submit(REQUEST, origin())
    waiting = await service.submit(REQUEST, origin())
    await step(service, ahead.id)
    stale = await step(service, waiting.id)  # as the scheduler claimed it

    await service.cancel(ahead.id, who="@ann")
    await service.cancel(waiting.id, who="@ann")
    await service.advance(stale)

    assert chat.places(waiting.id) == ["Queued — 1 ahead of you"]
    assert [p.kind for p in chat.posts if p.job_id == waiting.id][-1] == "failure"
    job = await service.get_job(waiting.id)
    assert job is not None and job.state is JobState.CANCELLED
