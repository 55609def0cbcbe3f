"""The status card a job keeps where it was asked for: posted once before the job starts
(found again rather than posted twice after a crash), then edited with its progress, no more
often than the platform allows."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace

from bot.clock import Clock
from bot.errors import DeliveryError
from bot.models import Job
from bot.ports import ChatSurface, Store

log = logging.getLogger(__name__)


class StatusCards:
    """Posts the jobs' status cards and keeps their progress up to date."""

    def __init__(self, *, store: Store, surfaces: Mapping[str, ChatSurface], clock: Clock) -> None:
        self._store = store
        self._surfaces = surfaces
        self._clock = clock
        self._since = clock.now()  # jobs created before this are resumed ones
        self._last_push: dict[str, float] = {}

    def forget(self, job_id: str) -> None:
        """The job has ended: no more progress for its card."""
        self._last_push.pop(job_id, None)

    async def post(self, job: Job) -> Job:
        """Post the job's card (or find the one a crash left unrecorded) and record its
        refs on the job's origin; the job as it now is. A card that cannot be posted is
        left out: the video still arrives."""
        if job.take > 0:  # the takes of a group share the first take's card
            return job
        surface = self._surfaces[job.origin.platform]
        try:
            # A job from before this process started may have its card up already: the last
            # one died between posting it and recording it.
            found = await surface.find_status(job) if job.created_at < self._since else None
            refs = found if found is not None else await surface.post_status(job)
        except DeliveryError as err:
            log.warning("job %s: could not post the status card: %s", job.id, err)
            return job
        origin = job.origin.model_copy(update={"refs": refs})
        updated = await self._store.update(
            job.id, version=job.version, now=self._clock.now(), origin=origin
        )
        return updated or replace(job, origin=origin)

    async def push_progress(self, job: Job) -> float | None:
        """Show the job's progress on its card, at most once per the platform's interval.
        None when shown (or tried); else when it may be shown next."""
        if job.take > 0:  # the first take's card stands for its group
            return None
        surface = self._surfaces[job.origin.platform]
        now = self._clock.now()
        last = self._last_push.get(job.id)
        if last is not None and now - last < surface.progress_interval_s:
            return last + surface.progress_interval_s
        self._last_push[job.id] = now
        try:
            await surface.update_progress(job)
        except DeliveryError as err:
            log.warning("job %s: progress update failed: %s", job.id, err)
        return None
