"""Takes made by one provider job (Vertex `sampleCount`, `bot.variants`): the first take's
job asks the provider for every take; the others ("riders", their request's count 0) are
never submitted. They wait, pending and due never, until the first take's job has its
provider id, then read and fetch their own video under the id the provider names for it
(`MakesSamples.sample_job_id`), polled like any job: each succeeds, or fails and is refunded,
on its own. A rider whose first take ended before it reached the provider fails with it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from bot.clock import Clock
from bot.models import Job, JobState
from bot.ports import MakesSamples, Store, VideoProvider

log = logging.getLogger(__name__)


def rider(job: Job) -> bool:
    """A take made by its group's first job, never submitted itself."""
    return job.request.count == 0 and job.group_id is not None


def carrier(job: Job) -> bool:
    """The job that asks the provider for several takes at once."""
    return job.request.count > 1 and job.group_id is not None


class Samples:
    """Starts riders when their first take's job has reached the provider."""

    def __init__(
        self,
        *,
        store: Store,
        providers: Mapping[str, VideoProvider],
        clock: Clock,
        wake: Callable[[], None],
    ) -> None:
        self._store = store
        self._providers = providers
        self._clock = clock
        self._wake = wake

    async def release(self, first: Job) -> None:
        """`first` (a carrier) is at the provider: its riders are too, each under its own id."""
        if not carrier(first) or first.provider_job_id is None or first.group_id is None:
            return
        provider = self._providers[first.provider]
        assert isinstance(provider, MakesSamples), f"{first.provider} makes one take a job"
        now = self._clock.now()
        started_any = False
        for take in await self._store.group_jobs(first.group_id):
            if not rider(take) or take.state is not JobState.PENDING:
                continue
            started = await self._store.transition(
                take.id,
                (JobState.PENDING,),
                JobState.SUBMITTED,
                now=now,
                provider_job_id=provider.sample_job_id(first.provider_job_id, take.take),
                due_at=now,
            )
            if started is not None:
                started_any = True
                log.info("job %s: take %d of %s's job", take.id, take.take, first.id)
        if started_any:
            self._wake()

    async def wait(self, job: Job) -> None:
        """A rider came due (a restart makes every unfinished job due): started when its first
        take's job has reached the provider, else back to waiting for it."""
        assert job.group_id is not None
        first = next((t for t in await self._store.group_jobs(job.group_id) if t.take == 0), None)
        if first is not None and first.provider_job_id is not None:
            await self.release(first)
            return
        await self._store.update(job.id, version=job.version, now=self._clock.now(), due_at=None)
