"""Jobs waiting at the bot (`JobState.QUEUED`): accepted over their requester's concurrency
limit, their seconds reserved, nothing sent to the provider yet.

The store decides, in one transaction, when one may start (`Store.start_queued`: the
requester's oldest waiting job, once a slot is free); a job that ends makes its requester's
waiting jobs due at once. Meanwhile each waiting job looks again every `queue_recheck_s`
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
from bot.models import Job
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

    async def step(self, job: Job) -> None:
        """Start the job if its turn has come (due at once, with its whole timeout ahead of
        it), else post or update its card with how many of the requester's jobs go first."""
        now = self._clock.now()
        started = await self._store.start_queued(
            job.id, self._config.limits, now=now, deadline_at=now + self._config.job_timeout_s
        )
        if started is not None:
            log.info("job %s: its turn came after %.0f s queued", job.id, now - job.created_at)
            self._metrics.count(
                "veo_queue_started_total", "Jobs started after waiting at the bot (issue 18)."
            )
            self._wake()
            return
        shown = replace(job, queue_position=await self._store.queue_ahead(job.id))
        if not job.origin.refs:
            job = await self._cards.post(shown)
        else:
            await self._cards.push_progress(shown)
        await self._store.update(
            job.id,
            version=job.version,
            now=self._clock.now(),
            due_at=self._clock.now() + self._config.queue_recheck_s,
        )
