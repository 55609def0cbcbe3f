"""A group's one card, exactly once (issue 18, variants): posted when every take has ended,
found again when the answer to the post was lost, and after a restart with takes waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import DeliveryError
from bot.jobs import JobService
from bot.models import GenerationRequest, Job, JobState, ProviderJobState, ProviderStatus
from bot.refs import Refs
from bot.scheduler import Scheduler
from bot.variants import TakeVideo
from storage.sqlite import SqliteStore
from tests.support import (
    Post,
    RecordingSurface,
    ScriptedJob,
    ScriptedProvider,
    eventually,
    make_service,
    origin,
)

RUNNING = ProviderStatus(ProviderJobState.RUNNING, progress=50)
DONE = ProviderStatus(ProviderJobState.SUCCEEDED, video_url="mem://video")


@dataclass
class TakesSurface(RecordingSurface):
    """A chat platform that posts several takes as one message, which it can look for."""

    lose_answers: int = 0  # posts that go up but whose answer never comes back
    cards: list[list[str]] = field(default_factory=list)  # each message: its takes' job ids

    async def deliver_takes(
        self, takes: Sequence[TakeVideo], *, failed: Sequence[Job], notice: str | None
    ) -> list[Refs]:
        self.cards.append([take.job.id for take in takes])
        self.posts.append(Post(takes[0].job.id, "takes", ",".join(j.id for j in failed)))
        if self.lose_answers > 0:
            self.lose_answers -= 1
            raise DeliveryError("the connection dropped after the post")
        self.delivered.set()
        return [self.refs(message=f"takes-{takes[0].job.id}") for _ in takes]

    async def find_delivery(self, job: Job) -> Refs | None:
        for card in self.cards:
            if job.id in card:
                return self.refs(message=f"takes-{card[0]}")
        return await super().find_delivery(job)


class HeldProvider(ScriptedProvider):
    """Keeps the video asked for with `held_seed` running until the test lets it finish."""

    def __init__(self, held_seed: int) -> None:
        super().__init__()
        self.held_seed = held_seed

    async def submit(
        self, job_id: str, request: GenerationRequest, *, callback_url: str | None
    ) -> str:
        pid = await super().submit(job_id, request, callback_url=callback_url)
        if request.seed == self.held_seed:
            self.jobs[pid] = ScriptedJob(request, [RUNNING])
        return pid

    def release(self) -> None:
        for job in self.jobs.values():
            job.readings = [DONE]


def service_for(
    store: SqliteStore, tmp_path: Path, provider: ScriptedProvider, surface: TakesSurface
) -> JobService:
    return make_service(
        store, tmp_path, providers={"scripted": provider}, surfaces={"chat": surface}
    )


async def all_done(service: JobService, first: Job) -> list[Job]:
    takes = await service.takes_of(first)
    return [await asyncio.wait_for(service.wait_until_done(t.id), 15) for t in takes]


async def test_a_post_whose_answer_was_lost_is_found_again_not_posted_twice(
    store: SqliteStore, tmp_path: Path
) -> None:
    surface = TakesSurface(lose_answers=1)
    service = service_for(store, tmp_path, ScriptedProvider(), surface)
    scheduler = Scheduler(service, idle_s=0.02)
    await scheduler.start()
    try:
        first = await service.submit(GenerationRequest(prompt="a fox", count=2), origin())
        takes = await all_done(service, first)
    finally:
        await scheduler.stop()

    assert [t.state for t in takes] == [JobState.DELIVERED] * 2
    assert len(surface.cards) == 1 and sorted(surface.cards[0]) == sorted(t.id for t in takes)
    assert {t.delivery_refs for t in takes} == {surface.refs(message=f"takes-{first.id}")}
    assert [r["status"] for r in await store.ledger([t.id for t in takes])] == ["settled"] * 2


async def test_takes_waiting_at_a_restart_are_posted_once_by_the_next_process(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = HeldProvider(held_seed=8)
    surface = TakesSurface()
    before = service_for(store, tmp_path, provider, surface)
    scheduler = Scheduler(before, idle_s=0.02)
    await scheduler.start()
    first = await before.submit(GenerationRequest(prompt="a hare", seed=7, count=2), origin())

    async def first_waits() -> Job | None:
        [take, _] = await before.takes_of(first)
        return take if take.state is JobState.DELIVERING and take.due_at is None else None

    await eventually(first_waits)
    await scheduler.stop()  # the process goes; the second take is still being made

    provider.release()
    after = service_for(store, tmp_path, provider, surface)
    await after.reschedule_active()  # the waiting take needs nothing: the other ends it
    scheduler = Scheduler(after, idle_s=0.02)
    await scheduler.start()
    try:
        takes = await all_done(after, first)
    finally:
        await scheduler.stop()

    assert [t.state for t in takes] == [JobState.DELIVERED] * 2
    assert len(surface.cards) == 1 and len(surface.cards[0]) == 2
    assert surface.of(first.id, "video") == []  # never posted alone
