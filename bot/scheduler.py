"""The one loop that drives jobs: claim what is due, advance it, sleep until the next one.

`next_poll_at` lives in the store, so the schedule survives restarts; the loop sleeps until the
earliest due job or until `wake()` is rung (a new job, a webhook), never on a fixed tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.jobs import JobService
from bot.models import Job

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(
        self,
        service: JobService,
        *,
        max_concurrency: int = 32,
        per_provider: int = 8,
        idle_s: float | None = None,
    ) -> None:
        self.service = service
        self.max_concurrency = max_concurrency
        self.idle_s = idle_s if idle_s is not None else service.config.poll_interval_s
        self._per_provider = {name: asyncio.Semaphore(per_provider) for name in service.providers}
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        service.set_wakeup(self.wake)

    def wake(self) -> None:
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def start(self) -> None:
        recovered = await self.service.reschedule_active()
        if recovered:
            log.info("picking up %d unfinished job(s)", recovered)
        self._loop_task = asyncio.create_task(self._run(), name="veo-scheduler")

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop claiming work; let running steps finish for `grace_s`, then cancel them.
        Every job stays resumable: its state is in the store."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _run(self) -> None:
        platforms = list(self.service.surfaces)
        store = self.service.store
        clock = self.service.clock
        while True:
            self._wake.clear()
            free = self.max_concurrency - len(self._tasks)
            if free > 0:
                try:
                    jobs = await store.claim_due(
                        now=clock.now(),
                        lease_s=self.service.config.lease_s,
                        limit=free,
                        platforms=platforms,
                    )
                except Exception:
                    log.exception("could not read due jobs; retrying")
                    jobs = []
                for job in jobs:
                    self._spawn(job)
            timeout = self.idle_s
            if free > 0:
                due = await store.next_due_at(platforms)
                if due is not None:
                    timeout = min(self.idle_s, max(0.0, due - clock.now()))
            if timeout > 0:
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
                # that lands as the event fires, and stop() would wait forever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()

    def _spawn(self, job: Job) -> None:
        task = asyncio.create_task(self._advance(job), name=f"veo-job-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _advance(self, job: Job) -> None:
        try:
            semaphore = self._per_provider.setdefault(job.provider, asyncio.Semaphore(1))
            async with semaphore:
                await self.service.advance(job)
        finally:
            self.wake()  # a slot is free, and the step may have made the job due again
