"""Issue 18 part 2: how long a model usually takes, from its recent completion times, on the
card of a job at the provider; nothing with too few completions, never a made-up percentage.
Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot import texts
from bot.eta import usual_minutes
from bot.jobs import JobService
from bot.models import GenerationRequest, Job, JobState, ProviderJobState, ProviderStatus
from tests.support import Post, RecordingSurface, ScriptedProvider, make_service, origin

if TYPE_CHECKING:
    from storage import AnyStore

REQUEST = GenerationRequest(prompt="a lantern drifts", duration_s=8)
# Seconds from submit to done of five earlier videos: most between 1 and 3 minutes.
TOOK = (60.0, 70.0, 80.0, 100.0, 170.0)


def test_the_range_is_from_the_10th_to_the_90th_percentile_in_whole_minutes() -> None:
    assert usual_minutes(TOOK) == (1, 3)
    assert usual_minutes(TOOK[:4]) is None  # four completions are no distribution
    assert usual_minutes([600.0] * 5) == (10, 10)
    assert usual_minutes([5.0] * 5) == (1, 1)  # never "0 min"
    assert texts.usually_takes(1, 3) == "usually 1–3 min"  # noqa: RUF001
    assert texts.usually_takes(10, 10) == "usually about 10 min"


@dataclass
class EtaSurface(RecordingSurface):
    async def update_progress(self, job: Job) -> None:
        self.posts.append(Post(job.id, "eta", texts.usual_time(job) or ""))
        await super().update_progress(job)


async def _earlier_videos(store: AnyStore, service: JobService, took: tuple[float, ...]) -> None:
    """Jobs of the same model that went from submitted to done in `took` seconds each."""
    for n, seconds in enumerate(took):
        job = await service.submit(REQUEST, origin(user=f"earlier{n}"))
        at = job.created_at
        assert await store.transition(job.id, (JobState.PENDING,), JobState.SUBMITTED, now=at)
        done = await store.transition(
            job.id, (JobState.SUBMITTED,), JobState.SUCCEEDED, now=at + seconds
        )
        assert done is not None
        await store.transition(job.id, (JobState.SUCCEEDED,), JobState.DELIVERED, now=at + seconds)


@pytest.mark.parametrize(("took", "shown"), [(TOOK, "usually 1–3 min"), (TOOK[:4], "")])  # noqa: RUF001
async def test_a_running_jobs_card_says_how_long_its_model_usually_takes(
    any_store: AnyStore, tmp_path: Path, took: tuple[float, ...], shown: str
) -> None:
    surface = EtaSurface()
    provider = ScriptedProvider([ProviderStatus(ProviderJobState.RUNNING)])
    service = make_service(
        any_store, tmp_path, providers={"scripted": provider}, surfaces={"chat": surface}
    )
    await _earlier_videos(any_store, service, took)

    job = await service.submit(REQUEST, origin())
    for _ in range(2):  # submit, then a poll that finds it running
        current = await service.get_job(job.id)
        assert current is not None
        await service.advance(current)

    [eta] = surface.of(job.id, "eta")
    assert eta.text == shown
    # The progress is the provider's own (it gave none), not a made-up one.
    assert [p.text for p in surface.of(job.id, "progress")] == ["0"]
