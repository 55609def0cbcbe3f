"""The one loop that drives jobs: claim what is due, advance it, sleep until the next one.

`due_at` lives in the store, so the schedule survives restarts; the loop sleeps until the
earliest due job or until `wake()` is rung (a new job, a webhook), never on a fixed tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot import workers
from bot.jobs import JobService
from bot.metrics import CLAIMS, DUE, LEASE_TAKEOVERS, NOTIFY_RECEIVED
from bot.models import Job
from bot.ports import Listening

log = logging.getLogger(__name__)


class Scheduler:
    """The one loop that drives every job: claims due jobs and steps each, within caps."""

    def __init__(
        self,
        service: JobService,
        *,
        max_concurrency: int = 32,
        per_provider: int = 8,
        idle_s: float | None = None,
        step_retry_s: float = 5.0,
    ) -> None:
        self.service = service
        # After a step failed outside the job's own error handling (the database locked
        # past its busy timeout): when to take the job up again. The job is still leased to
        # this process, so nobody else would before the lease ends.
        self.step_retry_s = step_retry_s
        self._retries: dict[str, asyncio.TimerHandle] = {}
        self.max_concurrency = max_concurrency
        self.idle_s = idle_s if idle_s is not None else service.config.poll_interval_s
        self._per_provider = {name: asyncio.Semaphore(per_provider) for name in service.providers}
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._purge_task: asyncio.Task[None] | None = None
        self._next_purge_at: float | None = None  # None: at once
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._next_heartbeat_at = 0.0
        # The leases of the jobs being stepped here, renewed every third of `lease_s`; with
        # them, the leases of workers on this host that are gone are made due at once.
        self._leases_task: asyncio.Task[None] | None = None
        # Job events from the other replicas (PostgreSQL's LISTEN), while the loop runs.
        self._listening: Listening | None = None
        self._next_leases_at = 0.0
        service.set_wakeup(self.wake)

    def wake(self) -> None:
        """Look for due jobs now instead of at the end of the idle wait."""
        self._wake.set()

    def _heard(self, event: str, job_id: str) -> None:
        """A job event from a replica (this one's too): a job may be due, look now."""
        self.service.metrics.count(*NOTIFY_RECEIVED, event=event)
        log.debug("heard %s for job %s", event, job_id or "-")
        self.wake()

    @property
    def listening(self) -> Listening | None:
        """What hears the other replicas' job events while the scheduler runs."""
        return self._listening

    @property
    def in_flight(self) -> int:
        """How many job steps are running now."""
        return len(self._tasks)

    async def start(self) -> None:
        """Make the jobs a dead process left unfinished due again, and start the loop."""
        workers.started(self.service.config.worker_id)
        recovered = await self.service.reschedule_active(starting=True)
        if recovered:
            log.info("picking up %d unfinished job(s)", recovered)
        try:
            self._listening = await self.service.store.listen(self._heard)
        except Exception:
            log.exception("cannot listen for the other replicas' job events; polling instead")
        self._loop_task = asyncio.create_task(self._run(), name="veo-scheduler")

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop claiming work; let running steps finish for `grace_s`, then cancel them.
        Every job stays resumable: its state is in the store."""
        for handle in self._retries.values():
            handle.cancel()  # the jobs stay in the store; the next start takes them up
        self._retries.clear()
        if self._listening is not None:
            await self._listening.close()
            self._listening = None
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        if self._purge_task is not None:
            self._purge_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purge_task
            self._purge_task = None
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._heartbeat_task is not None:
            await asyncio.gather(self._heartbeat_task, return_exceptions=True)
            self._heartbeat_task = None
        if self._leases_task is not None:
            await asyncio.gather(self._leases_task, return_exceptions=True)
            self._leases_task = None
        if self.service.config.owns_jobs:
            # Unfinished jobs of this process are given up: `veo-bot resume` adopts them at once.
            await self._renew(0.0)
        workers.stopped(self.service.config.worker_id)

    async def _run(self) -> None:
        platforms = list(self.service.surfaces)
        store = self.service.store
        clock = self.service.clock
        config = self.service.config
        while True:
            self._wake.clear()
            self._purge_when_due()
            self._heartbeat_when_due()
            self._leases_when_due()
            free = self.max_concurrency - len(self._tasks)
            if free > 0:
                try:
                    jobs = await store.claim_due(
                        now=clock.now(),
                        lease_s=config.lease_s,
                        limit=free,
                        platforms=platforms,
                        exclude=self.service.in_progress,
                        owner=config.owner,
                        holder=config.worker_id,
                    )
                except Exception:
                    log.exception("could not read due jobs; retrying")
                    jobs = []
                self._counted(jobs)
                for job in jobs:
                    self._spawn(job)
            timeout = self.idle_s
            if free > 0:
                due = await store.next_due_at(
                    platforms, exclude=self.service.in_progress, owner=config.owner
                )
                if due is not None:
                    timeout = min(timeout, max(0.0, due - clock.now()))
            # The heartbeats must not wait for a long idle.
            timeout = min(timeout, config.lease_s / 3)
            if config.owns_jobs:
                timeout = min(timeout, config.owner_lease_s / 3)
            if timeout > 0:
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
                # that lands as the event fires, and stop() would wait forever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()

    def _heartbeat_when_due(self) -> None:
        """For a process that owns its jobs (`veo-bot try`): vouch for them again every
        third of `owner_lease_s`, so no `veo-bot resume` adopts them while it lives."""
        config = self.service.config
        now = self.service.clock.now()
        beating = self._heartbeat_task is not None and not self._heartbeat_task.done()
        if not config.owns_jobs or beating or now < self._next_heartbeat_at:
            return
        self._next_heartbeat_at = now + config.owner_lease_s / 3
        self._heartbeat_task = asyncio.create_task(
            self._renew(now + config.owner_lease_s), name="veo-heartbeat"
        )

    def _counted(self, jobs: list[Job]) -> None:
        """Count the claims, and those that took a job from a worker whose lease ran out."""
        metrics = self.service.metrics
        if jobs:
            metrics.count(*CLAIMS, len(jobs))
        for job in jobs:
            if job.lease_taken_from is not None:
                log.info("job %s: taken over from %s", job.id, job.lease_taken_from)
                metrics.count(*LEASE_TAKEOVERS)

    def _leases_when_due(self) -> None:
        """Every third of `lease_s`: renew the leases of the jobs stepped here, so that a long
        step (a delivery, a slow submit) keeps its job while a short lease still lets another
        replica take it soon after this one dies; and make due the jobs of workers on this
        host that are gone, which need not wait for their leases to run out."""
        now = self.service.clock.now()
        running = self._leases_task is not None and not self._leases_task.done()
        if running or now < self._next_leases_at:
            return
        self._next_leases_at = now + self.service.config.lease_s / 3
        self._leases_task = asyncio.create_task(self._renew_leases(now), name="veo-leases")

    async def _renew_leases(self, now: float) -> None:
        service = self.service
        stepping = service.in_progress
        try:
            if stepping:
                held = await service.store.renew_leases(
                    stepping, holder=service.config.worker_id, until=now + service.config.lease_s
                )
                log.debug("renewed %d lease(s) of %d job(s) in progress", len(held), len(stepping))
            if await service.reschedule_active():
                self.wake()
                await service.announce(DUE, "*")  # several jobs: any free replica may help
        except Exception:
            log.exception("could not renew this replica's leases; trying again soon")

    async def _renew(self, until: float) -> None:
        try:
            await self.service.store.renew_ownership(self.service.config.worker_id, until=until)
        except Exception:
            log.exception("could not renew this process's jobs; trying again soon")

    def _purge_when_due(self) -> None:
        """The retention sweep: at start, then every `purge_interval_s` by the service's clock;
        in a task of its own, so that it never holds up the jobs."""
        now = self.service.clock.now()
        running = self._purge_task is not None and not self._purge_task.done()
        if running or (self._next_purge_at is not None and now < self._next_purge_at):
            return
        self._next_purge_at = now + self.service.config.purge_interval_s
        self._purge_task = asyncio.create_task(self._purge(), name="veo-purge")

    async def _purge(self) -> None:
        try:
            await self.service.purge_expired()
        except Exception:
            log.exception("the retention sweep failed; it runs again at the next interval")

    def _spawn(self, job: Job) -> None:
        task = asyncio.create_task(self._advance(job), name=f"veo-job-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _advance(self, job: Job) -> None:
        try:
            semaphore = self._per_provider.setdefault(job.provider, asyncio.Semaphore(1))
            async with semaphore:
                await self.service.advance(job)
        except Exception:
            # `advance` handles the job's own failures; what reaches here is the store failing
            # (locked past its busy timeout) even to record one. Try the job again soon
            # rather than leaving it until its lease ends.
            log.exception("job %s: step failed; trying again in %g s", job.id, self.step_retry_s)
            self._retry_later(job.id)
        finally:
            self.wake()  # a slot is free, and the step may have made the job due again

    def _retry_later(self, job_id: str) -> None:
        if self._loop_task is None or job_id in self._retries:
            return  # stopping, or already planned
        loop = asyncio.get_running_loop()
        self._retries[job_id] = loop.call_later(self.step_retry_s, self._retry, job_id)

    def _retry(self, job_id: str) -> None:
        self._retries.pop(job_id, None)
        task = asyncio.create_task(self._reload_and_advance(job_id), name=f"veo-job-{job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reload_and_advance(self, job_id: str) -> None:
        try:
            job = await self.service.store.get_job(job_id)
        except Exception:
            log.exception("job %s: could not read it back; trying again later", job_id)
            self._retry_later(job_id)
            return
        if job is not None and not job.state.is_terminal:
            await self._advance(job)
