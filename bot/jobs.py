"""The job service: the one face the adapters, the web server, the scheduler and the CLI see.

It composes the rooms that do the work, each over the same store:

- `bot.intake.Intake`: admit, validate, moderate, reserve quota and record a job; re-rolls;
- `bot.lifecycle.Lifecycle`: the state machine the scheduler drives (`advance`): submit,
  poll, time out; and the provider callbacks that make a job due at once; with
  `bot.status_cards.StatusCards` for the card people watch;
- `bot.delivery.Delivery`: download, fit, post and settle a finished video;
- `bot.outcomes.Outcomes`: failing, retrying and settling a job, and who waits for it;
- `bot.retention.Retention`: the sweep that removes finished jobs' files;
- `bot.job_files.JobFiles`: where a job's files lie on disk.

What admins steer (limits, blocks, banned terms, usage) is `bot.admin`'s.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from pathlib import Path

from bot.cancelling import Cancelling
from bot.catalog import Catalog
from bot.clock import Clock
from bot.config import ServiceConfig
from bot.delivery import UNDELIVERABLE_SENT_PRIVATELY, UNDELIVERED, Delivery
from bot.history import PAGE_SIZE, HistoryPage, history_page
from bot.intake import Intake
from bot.job_files import JobFiles
from bot.languages import Languages
from bot.lifecycle import Lifecycle
from bot.links import MediaLinks
from bot.metrics import CANCELLED, NOTIFY_SENT, Metrics
from bot.models import (
    DM_WORKSPACE,
    GenerationRequest,
    Job,
    Origin,
    ProviderStatus,
    QuotaLimits,
    QuotaReport,
    QuotaUsage,
)
from bot.outcomes import Outcomes
from bot.ports import ChatSurface, Store, VideoProvider
from bot.retention import Retention
from bot.shared_files import kept_name
from bot.workers import orphaned

# Named here too, as the adapters and the CLI import them with the service: what
# `quota_report` answers, and the error codes of a video made but refused where asked for.
__all__ = ["UNDELIVERABLE_SENT_PRIVATELY", "UNDELIVERED", "JobService", "QuotaReport"]

log = logging.getLogger(__name__)


class JobService:
    """Every request's whole life, behind one object: the rooms above, composed."""

    def __init__(
        self,
        *,
        store: Store,
        catalog: Catalog,
        providers: Mapping[str, VideoProvider],
        surfaces: Mapping[str, ChatSurface],
        config: ServiceConfig,
        clock: Clock,
        rng: random.Random | None = None,
        metrics: Metrics | None = None,
        links: MediaLinks | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics or Metrics()
        self.catalog = catalog
        self.providers = dict(providers)
        self.surfaces = dict(surfaces)
        self.config = config
        self.clock = clock
        # The languages workspaces fixed, read on every request (`bot.languages`).
        self.languages = Languages(store, clock)
        self._wake: Callable[[], None] = lambda: None
        # Signs callback URLs and result links, as the web server checks them (the same one
        # instance, built by the composition root); None: neither is offered.
        self._links = links
        self._files = JobFiles(config.work_dir, config.results_dir)
        self._outcomes = Outcomes(
            store=store,
            surfaces=self.surfaces,
            config=config,
            clock=clock,
            metrics=self.metrics,
            rng=rng or random.Random(),
        )
        self._intake = Intake(
            store=store,
            catalog=catalog,
            providers=self.providers,
            platforms=self.surfaces,
            config=config,
            clock=clock,
            metrics=self.metrics,
            wake=self.wake,
            announce=self.announce,
        )
        delivery = Delivery(
            store=store,
            providers=self.providers,
            surfaces=self.surfaces,
            config=config,
            clock=clock,
            metrics=self.metrics,
            outcomes=self._outcomes,
            files=self._files,
            links=links,
            quota_report=self._intake.quota_report,
        )
        self._lifecycle = Lifecycle(
            store=store,
            catalog=catalog,
            providers=self.providers,
            surfaces=self.surfaces,
            config=config,
            clock=clock,
            metrics=self.metrics,
            outcomes=self._outcomes,
            delivery=delivery,
            links=links,
            wake=self.wake,
            announce=self.announce,
        )
        self._cancelling = Cancelling(
            store=store,
            providers=self.providers,
            surfaces=self.surfaces,
            clock=clock,
            metrics=self.metrics,
            outcomes=self._outcomes,
        )
        self._retention = Retention(
            store=store,
            providers=self.providers,
            config=config,
            clock=clock,
            metrics=self.metrics,
            files=self._files,
        )

    def set_wakeup(self, wake: Callable[[], None]) -> None:
        """The scheduler's doorbell: rung when a job becomes due now."""
        self._wake = wake

    def wake(self) -> None:
        """Ring the scheduler's doorbell (nothing before a scheduler has hung one)."""
        self._wake()

    async def announce(self, event: str, job_id: str) -> None:
        """Tell the other replicas on the database that `event` (`bot.metrics.NOTIFY_EVENTS`)
        happened to the job, so that whichever is free wakes up for it. Never raises: the
        schedulers' polling is the safety net when the word does not get through."""
        try:
            await self.store.notify(event, job_id)
        except Exception as exc:
            log.warning("job %s: could not tell the other replicas (%s): %s", job_id, event, exc)
            return
        self.metrics.count(*NOTIFY_SENT, event=event)

    @property
    def in_progress(self) -> frozenset[str]:
        """The ids of the jobs a step is running for in this process."""
        return self._lifecycle.in_progress

    # --- intake -------------------------------------------------------------------------

    def admit(self, origin: Origin) -> None:
        """Count one command of this person's; raise `UserFacingError` when they are going too
        fast (see `Intake.admit`)."""
        self._intake.admit(origin)

    async def submit(
        self, request: GenerationRequest, origin: Origin, *, idempotency_key: str | None = None
    ) -> Job:
        """Validate, reserve quota and record the job (see `Intake.submit`)."""
        return await self._intake.submit(request, origin, idempotency_key=idempotency_key)

    async def reroll(self, job_id: str, origin: Origin) -> Job:
        """The same request with a new seed, charged to whoever asked, as a new job."""
        return await self._intake.reroll(job_id, origin)

    async def quota_usage(self, origin: Origin) -> QuotaUsage:
        """What the person has used and has in flight."""
        return await self._intake.quota_usage(origin)

    async def quota_report(self, origin: Origin) -> QuotaReport:
        """What a person sees for `/veo quota`: used, left, when it resets, jobs in flight."""
        return await self._intake.quota_report(origin)

    async def limits_for(self, origin: Origin) -> QuotaLimits:
        """The limits in force for the person."""
        return await self._intake.limits_for(origin)

    # --- jobs -----------------------------------------------------------------------------

    async def cancel(self, job_id: str, *, who: str) -> str:
        """Cancel the job for `who` (callers check they are its requester or an admin); what
        happened, in the card's words (see `bot.cancelling`)."""
        said = await self._cancelling.cancel(job_id, who=who)
        # The other replicas wake: one stepping the job drops it, a queued job may start.
        await self.announce(CANCELLED, job_id)
        return said

    async def get_job(self, job_id: str) -> Job | None:
        """The job with this id, or None."""
        return await self.store.get_job(job_id)

    async def takes_of(self, job: Job) -> list[Job]:
        """The jobs of the request `job` belongs to: its group's takes, in order, or the job
        alone (one that makes all its takes in one call included)."""
        if job.group_id is None:
            return [job]
        return await self.store.group_jobs(job.group_id)

    async def history(
        self, user_key: str, *, cursor: str | None = None, size: int = PAGE_SIZE
    ) -> HistoryPage:
        """One page of the person's own jobs, newest first (see `bot.history`)."""
        return await history_page(self.store, user_key, cursor=cursor, size=size)

    async def home_workspace(self, platform: str, user_id: str) -> str:
        """Where a direct message with the bot counts, for quotas and history: the workspace
        the person last asked in on that platform, else `DM_WORKSPACE`."""
        return await self.store.home_workspace(platform, user_id) or DM_WORKSPACE

    def kept_video(self, job: Job) -> Path | None:
        """The job's video on this machine, when one is kept there (behind a link, sent
        privately, or refused where it was asked for); None otherwise."""
        kept = self._files.kept(job.id)
        return kept if kept.is_file() else None

    async def revoke_result(self, job: Job, *, by: str) -> None:
        """Delete was pressed (callers check it was the requester or an admin): the job's
        result link stops working for good, recorded so that a restart keeps it so, and a
        video kept for that link is removed."""
        if await self.store.revoke_result(job.id, by=by, now=self.clock.now()):
            log.info("job %s: result link revoked by %s", job.id, by)
        await asyncio.to_thread(self._files.kept(job.id).unlink, missing_ok=True)
        await self.store.delete_blobs([kept_name(job.id)])

    async def adopt_orphan(self, job: Job) -> Job | None:
        """Take over an unfinished job whose owning process is gone (`veo-bot resume`): it is
        this process's from now on, due at once. None when its owner still vouches for it, or
        when another process adopted it first."""
        now = self.clock.now()
        if job.state.is_terminal or not orphaned(job, now=now):
            return None
        adopted = await self.store.update(
            job.id,
            version=job.version,
            now=now,
            owner=self.config.worker_id,
            owner_until=now + self.config.owner_lease_s,
            due_at=now,
        )
        if adopted is not None:
            log.info("job %s: adopted from %s", job.id, job.owner or "no owner")
            self._wake()
        return adopted

    async def wait_until_done(self, job_id: str) -> Job:
        """Wait for the job to reach a terminal state (see `Lifecycle.wait_until_done`)."""
        return await self._lifecycle.wait_until_done(job_id)

    async def advance(self, job: Job) -> None:
        """Take one step for a due job (see `Lifecycle.advance`)."""
        await self._lifecycle.advance(job)

    async def on_callback(self, job: Job) -> str:
        """A provider said the job changed: poll it at once, throttled (see
        `Lifecycle.on_callback`). Returns what was done."""
        return await self._lifecycle.on_callback(job)

    async def apply_status(self, job: Job, status: ProviderStatus) -> None:
        """Act on a provider reading, from a poll or a webhook."""
        await self._lifecycle.apply_status(job, status)

    def callback_url(self, job: Job) -> str | None:
        """Where the job's provider may call back; None when the bot is not reachable."""
        return self._links.callback_url(job) if self._links is not None else None

    async def purge_expired(self, *, batch: int = 100) -> int:
        """The retention sweep; how many jobs were purged (see `Retention.purge_expired`)."""
        return await self._retention.purge_expired(batch=batch)

    async def reschedule_active(self, *, starting: bool = False) -> int:
        """Make due now the unfinished jobs of dead workers on this host (see
        `Lifecycle.reschedule_active`)."""
        return await self._lifecycle.reschedule_active(starting=starting)
