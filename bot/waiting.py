"""Jobs waiting at the bot (`JobState.QUEUED`): accepted over their requester's concurrency
limit, their seconds reserved, nothing sent to the provider yet.

The store decides, in one transaction, when one may start (`Store.start_queued`: the
requester's oldest waiting job, once a slot is free); a job that ends makes its requester's
waiting jobs due at once (a new version, so that a step reading the old state does not
push it back). Meanwhile each waiting job looks again every `queue_recheck_s`
(a limit raised by an admin, a process that died) and keeps its card's place up to date.
Each person waits only for their own slots, so one person's batch never holds up another's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from bot.clock import Clock
from bot.config import ServiceConfig
from bot.metrics import Metrics
from bot.models import Job, JobState
from bot.ports import Store
from bot.status_cards import StatusCards

log = logging.getLogger(__name__)


class Waiting:
    """One step for a waiting job: start it when its turn has come, else show its place."""

    def __init__(
        self,
        *,
        store: Store,
        config: ServiceConfig,
        clock: Clock,
        metrics: Metrics,
        cards: StatusCards,
        wake: Callable[[], None],
    ) -> None:
        self._store = store
        self._config = config
        self._clock = clock
        self._metrics = metrics
        self._cards = cards
        self._wake = wake
        # The place each waiting job's card shows, so an unchanged one is not drawn again.
        self._shown: dict[str, int] = {}

    async def step(self, job: Job) -> None:
        """Start the job if its turn has come (due at once, with its whole timeout ahead of
        it), else post or update its card with how many of the requester's jobs go first."""
        now = self._clock.now()
        started = await self._store.start_queued(
            job.id, self._config.limits, now=now, deadline_at=now + self._config.job_timeout_s
        )
        if started is not None:
            self.forget(job.id)
            log.info("job %s: its turn came after %.0f s queued", job.id, now - job.created_at)
            self._metrics.count(
                "veo_queue_started_total", "Jobs started after waiting at the bot (issue 18)."
            )
            self._wake()
            return
        current = await self._store.get_job(job.id)
        if current is None or current.state is not JobState.QUEUED:
            return  # cancelled meanwhile: its card says so already
        ahead = await self._store.queue_ahead(job.id)
        shown = replace(job, queue_position=ahead)
        again = now + self._config.queue_recheck_s
        if not job.origin.refs:
            posted = await self._cards.post(shown)
            self._shown[job.id] = ahead
            if posted.origin.refs and posted.version == job.version:
                await self._keep_refs(posted)  # a wake-up moved the job meanwhile
                return
            job = posted
        elif self._shown.get(job.id) != ahead:
            later = await self._cards.push_progress(shown)
            if later is None:
                self._shown[job.id] = ahead
            else:  # the platform's edit interval: show the new place as soon as it allows
                again = min(again, later)
        await self._store.update(job.id, version=job.version, now=now, due_at=again)

    async def _keep_refs(self, posted: Job) -> None:
        """Record the card's refs on a job whose version a wake-up changed while the card was
        posted (its due time stays the wake-up's)."""
        current = await self._store.get_job(posted.id)
        if current is not None and not current.origin.refs:
            await self._store.update(
                posted.id, version=current.version, now=self._clock.now(), origin=posted.origin
            )

    def forget(self, job_id: str) -> None:
        """The job no longer waits (or has ended): nothing kept for it."""
        self._shown.pop(job_id, None)
