"""The state machine: one step at a time for each due job, every change a compare-and-set.

`advance` (called by the scheduler for each due job) submits a pending job, polls one at the
provider, times out one past its deadline, or hands a finished one to `Delivery`. A provider's
callback (`on_callback`) never carries the news itself: it makes the job due at once, and the
poll that follows goes through the same path. Two paths that see the same completion (a
callback and a poll, or two processes) therefore deliver once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace

from bot import i18n
from bot.catalog import Catalog
from bot.clock import Clock
from bot.config import ServiceConfig
from bot.delivery import Delivery
from bot.errors import (
    InvalidRequest,
    ProviderAnswerLost,
    ProviderError,
    ProviderModelRetired,
    reference_id,
    unexpected_message,
)
from bot.eta import Estimates
from bot.i18n import _
from bot.links import MediaLinks
from bot.metrics import CALLBACK, Metrics
from bot.models import Job, JobState, ProviderJobState, ProviderStatus
from bot.outcomes import Outcomes, may_retry, timed
from bot.polling import Polling
from bot.ports import ChatSurface, Store, VideoProvider
from bot.samples import Samples, carrier, rider
from bot.status_cards import StatusCards
from bot.waiting import Waiting
from bot.workers import known_dead

log = logging.getLogger(__name__)
# Past this many jobs remembered for the callback throttle, the stale entries are dropped.
_CALLBACK_POLLS_KEPT = 10_000


class Lifecycle:
    """Drives each job from `pending` to the hand-over to delivery, or to its failure."""

    def __init__(
        self,
        *,
        store: Store,
        catalog: Catalog,
        providers: Mapping[str, VideoProvider],
        surfaces: Mapping[str, ChatSurface],
        config: ServiceConfig,
        clock: Clock,
        metrics: Metrics,
        outcomes: Outcomes,
        delivery: Delivery,
        links: MediaLinks | None,
        wake: Callable[[], None],
        announce: Callable[[str, str], Awaitable[None]],
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._providers = providers
        self._surfaces = surfaces
        self._config = config
        self._clock = clock
        self._metrics = metrics
        self._outcomes = outcomes
        self._delivery = delivery
        self._links = links
        self._wake = wake
        self._announce = announce
        self._cards = StatusCards(store=store, surfaces=surfaces, clock=clock)
        self._estimates = Estimates(store=store, clock=clock)
        self._waiting = Waiting(
            store=store, config=config, clock=clock, metrics=metrics, cards=self._cards, wake=wake
        )
        self._samples = Samples(store=store, providers=providers, clock=clock, wake=wake)
        self._early_callbacks: set[str] = set()
        # When a callback last made each job poll at once: replays within the poll interval
        # do not make the provider be asked again.
        self._callback_polls: dict[str, float] = {}
        # Models a provider said are gone while the catalog thought them live: warned once.
        self._gone_models: set[tuple[str, str]] = set()
        # Jobs a step is running for in this process: never a second step at once, even when
        # the first outlives its lease.
        self._stepping: set[str] = set()
        # When each job is polled next, and each provider's request budget.
        self._polling = Polling(
            store=store, config=config, clock=clock, metrics=metrics, links=links
        )
        outcomes.on_settled(self._forget)

    @property
    def in_progress(self) -> frozenset[str]:
        """The ids of the jobs a step is running for in this process."""
        return frozenset(self._stepping)

    def _forget(self, job_id: str) -> None:
        self._cards.forget(job_id)
        self._waiting.forget(job_id)
        self._callback_polls.pop(job_id, None)

    def _callback_url(self, job: Job) -> str | None:
        return self._links.callback_url(job) if self._links is not None else None

    async def advance(self, job: Job) -> None:
        """Take one step for a due job. Raises only on cancellation, or when the store fails
        even to record what went wrong (the scheduler then tries the job again soon). A job
        that already has a step running in this process is left to that step."""
        if job.id in self._stepping:
            log.info("job %s: a step is already running for it here", job.id)
            return
        self._stepping.add(job.id)
        try:
            # Every word this step says about the job is in the requester's language.
            with i18n.using(job.origin.locale):
                await self._step(job)
        finally:
            self._stepping.discard(job.id)
        if self._outcomes.watched(job.id):
            # Someone waits, and this step may have ended without word of the job's end: it
            # ended by another path (another worker finished it).
            current = await self._store.get_job(job.id)
            if current is not None and current.state.is_terminal:
                self._outcomes.settled(current)

    async def _step(self, job: Job) -> None:
        if job.provider not in self._providers:
            # The job belongs to a provider this process has no key for: leave it to one that
            # has, without counting it as a failure.
            log.warning("job %s: provider %s is not configured here", job.id, job.provider)
            await self._store.update(
                job.id,
                version=job.version,
                now=self._clock.now(),
                due_at=self._clock.now() + self._config.backoff_cap_s,
            )
            return
        try:
            if self._clock.now() >= job.deadline_at and job.state in (
                JobState.PENDING,
                JobState.SUBMITTED,
                JobState.RUNNING,
            ):
                await self._time_out(job)
            elif job.state is JobState.QUEUED:
                await self._waiting.step(job)
            elif job.state is JobState.PENDING:
                await self._start(job)
            elif job.state.at_provider:
                await self._poll(job)
            elif job.state in (JobState.SUCCEEDED, JobState.DELIVERING):
                await self._delivery.deliver(job)
        except asyncio.CancelledError:
            raise
        except Exception:
            ref = reference_id()
            log.exception("job %s: unexpected error in state %s (ref %s)", job.id, job.state, ref)
            await self._outcomes.after_failure(
                job, code="unexpected", message=unexpected_message(ref)
            )

    async def wait_until_done(self, job_id: str) -> Job:
        """Wait for the job to reach a terminal state (in this process or found in the store).
        A job that a step here has just ended is done once that step has said so where the
        job came from (the failure reported, the video posted), not as soon as it is stored."""
        with self._outcomes.watching(job_id) as done:
            job = await self._store.get_job(job_id)
            if job is not None and job.state.is_terminal and job_id not in self._stepping:
                return job
            return await done

    async def on_callback(self, job: Job) -> str:
        """A provider said the job changed. The body is never trusted: the job is polled at
        once, through the same compare-and-set path as any poll, at most once per poll
        interval however often the callback comes (the regular polls go on meanwhile).
        Returns what was done."""
        if job.state.is_terminal:
            return "finished"
        if job.state is JobState.PENDING:
            self._early_callbacks.add(job.id)
            return "early"
        if not job.state.at_provider:
            return "delivering"
        now = self._clock.now()
        provider = self._providers.get(job.provider)
        interval = self._polling.interval_s(provider) if provider else self._config.poll_interval_s
        last = self._callback_polls.get(job.id)
        if last is not None and now - last < interval:
            return "throttled"
        if len(self._callback_polls) >= _CALLBACK_POLLS_KEPT:
            self._callback_polls = {
                k: t for k, t in self._callback_polls.items() if now - t < interval
            }
        self._callback_polls[job.id] = now  # before the await: concurrent replays see it
        moved = await self._store.update(job.id, version=job.version, now=now, due_at=now)
        if moved is None:
            return "raced"
        self._wake()
        await self._announce(CALLBACK, job.id)  # whichever replica is free polls it
        return "polling"

    async def apply_status(self, job: Job, status: ProviderStatus) -> None:
        """Act on a provider reading, from a poll or a webhook."""
        if status.state is ProviderJobState.SUCCEEDED:
            won = await self._store.transition(
                job.id,
                (JobState.SUBMITTED, JobState.RUNNING),
                JobState.SUCCEEDED,
                now=self._clock.now(),
                progress=100,
                result_url=status.video_url,
                poll_failures=0,
                due_at=self._clock.now(),
            )
            if won is not None:
                self._polling.noticed(job, status, won.updated_at)
                await self._delivery.deliver(won, status)
        elif status.state is ProviderJobState.FAILED:
            await self._outcomes.fail(
                job,
                JobState.FAILED,
                code=status.error_code or "provider_failed",
                message=status.error_message or _("The video provider could not make this video."),
            )
        else:
            await self._progress(job, status)

    async def _start(self, job: Job) -> None:
        if rider(job):  # made by its group's first job (bot.samples)
            await self._samples.wait(job)
            return
        provider = self._providers[job.provider]
        if not job.origin.refs:
            job = await self._cards.post(job)
        if job.submit_attempts and job.error_code is None and not provider.idempotent_submit:
            # A submit was under way when the process stopped: it may have reached the
            # provider, and submitting again could start (and bill) a second video.
            await self._outcomes.fail(
                job,
                JobState.FAILED,
                code="submit_interrupted",
                message=_(
                    "The bot restarted while starting this video and cannot tell whether the "
                    "provider got it, so it was stopped. Nothing was charged; please try "
                    "again."
                ),
            )
            return
        now = self._clock.now()
        if await self._polling.over_budget(job, "submit", now):
            return
        started = await self._store.update(
            job.id,
            version=job.version,
            now=now,
            submit_attempts=job.submit_attempts + 1,
            error_code=None,
            due_at=now + self._config.lease_s,  # a lease: this worker's while it submits
            leased_by=self._config.worker_id,
        )
        if started is None:
            return  # someone else moved the job on
        request = job.request.with_media(await self._store.load_media(job.id))
        try:
            provider_job_id = await timed(
                self._metrics,
                job.provider,
                "submit",
                provider.submit(job.id, request, callback_url=self._callback_url(job)),
            )
        except ProviderAnswerLost as err:
            if provider.idempotent_submit:
                await self._outcomes.retry_later(started, err, counter="submit_attempts")
                return
            # The provider may have started (and billed) it: never submit it a second time.
            log.warning("job %s: submit answer lost: %s", job.id, err.detail)
            await self._outcomes.fail(
                started,
                JobState.FAILED,
                code="submit_answer_lost",
                message=_(
                    "The video provider stopped answering while this video was being "
                    "started, so the bot cannot tell whether it began; it was stopped rather "
                    "than risk making and paying for it twice. Please try again."
                ),
            )
            return
        except ProviderModelRetired as err:
            await self._outcomes.fail(
                started, JobState.FAILED, code=err.code, message=self._model_gone(job, err)
            )
            return
        except ProviderError as err:
            await self._polling.throttled(job, "submit", err)
            if may_retry(err, started.submit_attempts, self._config.max_submit_attempts):
                await self._outcomes.retry_later(started, err, counter="submit_attempts")
            else:
                await self._outcomes.fail(
                    started, JobState.FAILED, code=err.code, message=err.user_message
                )
                log.warning("job %s: submit refused: %s", job.id, err)
            return
        now = self._clock.now()
        # A callback that beat the submit answer means the job may already be done: look now.
        early = job.id in self._early_callbacks
        self._early_callbacks.discard(job.id)
        submitted = await self._store.transition(
            job.id,
            (JobState.PENDING,),
            JobState.SUBMITTED,
            now=now,
            provider_job_id=provider_job_id,
            due_at=now if early else await self._polling.next_poll_at(job, provider, now),
            likely_done_at=await self._polling.likely_done_at(job, now),
        )
        if submitted is not None:
            log.info("job %s submitted to %s as %s", job.id, job.provider, provider_job_id)
            await self._samples.release(submitted)
            self._wake()
        elif (now_job := await self._store.get_job(job.id)) is not None and (
            now_job.state is JobState.CANCELLED
        ):
            # Cancelled while the submit was on its way: stop what the provider started.
            await self._cancel_started(job, provider_job_id)

    async def _cancel_started(self, job: Job, provider_job_id: str) -> None:
        try:
            await self._providers[job.provider].cancel(provider_job_id)
        except ProviderError as err:
            log.warning("job %s: cancelled, but the provider kept it: %s", job.id, err)

    async def _poll(self, job: Job) -> None:
        if carrier(job):  # its other takes, should a crash have come before they started
            await self._samples.release(job)
        provider = self._providers[job.provider]
        assert job.provider_job_id is not None
        if await self._polling.listed_running(job, provider, self._clock.now()):
            await self._progress(job, ProviderStatus(ProviderJobState.RUNNING))
            return
        if await self._polling.over_budget(job, "status", self._clock.now()):
            return
        try:
            status = await timed(
                self._metrics, job.provider, "status", provider.get_status(job.provider_job_id)
            )
        except ProviderError as err:
            await self._polling.throttled(job, "status", err)
            if may_retry(err, job.poll_failures, self._config.max_failures):
                await self._outcomes.retry_later(job, err, counter="poll_failures")
            else:
                await self._outcomes.fail(
                    job, JobState.FAILED, code=err.code, message=err.user_message
                )
            return
        await self.apply_status(job, status)

    def _model_gone(self, job: Job, err: ProviderModelRetired) -> str:
        """The catalog's sentence for a model its provider says is gone (with the catalog's
        replacement when it has one); the operator is warned once per model and process, as
        the catalog needs updating."""
        if (job.provider, job.model) not in self._gone_models:
            self._gone_models.add((job.provider, job.model))
            log.warning(
                "provider %s says model %s is no longer available, but the catalog has it as "
                "live: mark it retired (%s)",
                job.provider,
                job.model,
                err.detail,
            )
        try:
            return self._catalog.retirement(self._catalog.get(job.provider, job.model))
        except InvalidRequest as refused:  # retired in the catalog meanwhile, or unknown
            return refused.user_message

    async def _progress(self, job: Job, status: ProviderStatus) -> None:
        provider = self._providers[job.provider]
        now = self._clock.now()
        progress = max(job.progress, min(99, status.progress or 0))
        due_at = await self._polling.next_poll_at(job, provider, now)
        likely = await self._polling.likely_done_at(job, now)
        if job.state is JobState.SUBMITTED and status.state is ProviderJobState.RUNNING:
            updated = await self._store.transition(
                job.id,
                (JobState.SUBMITTED,),
                JobState.RUNNING,
                now=now,
                progress=progress,
                poll_failures=0,
                due_at=due_at,
                likely_done_at=likely,
            )
        else:
            updated = await self._store.update(
                job.id,
                version=job.version,
                now=now,
                progress=progress,
                poll_failures=0,
                due_at=due_at,
                likely_done_at=likely,
            )
        if updated is not None:
            # Where it waits in the provider's queue is news for the card, not for the store.
            await self._cards.push_progress(
                replace(
                    updated,
                    queue_position=status.queue_position,
                    usual_minutes=await self._estimates.usual_minutes(job.model),
                )
            )

    async def _time_out(self, job: Job) -> None:
        minutes = self._config.job_timeout_s / 60
        if job.provider_job_id is not None:
            # Stop it at the provider too, where the provider can, so it stops costing money.
            try:
                await timed(
                    self._metrics,
                    job.provider,
                    "cancel",
                    self._providers[job.provider].cancel(job.provider_job_id),
                )
            except ProviderError as err:
                log.warning("job %s: could not cancel it at the provider: %s", job.id, err)
        await self._outcomes.fail(
            job,
            JobState.TIMED_OUT,
            code="timed_out",
            message=_("The video took longer than {minutes} minutes, so it was stopped.").format(
                minutes=i18n.number(minutes)
            ),
        )

    async def reschedule_active(self, *, starting: bool = False) -> int:
        """Make due now the unfinished jobs whose lease a dead process held (on this host, so
        known dead), so that this process picks them up at once (with every lease heartbeat;
        `starting`: also those naming no holder, as a database from before holders were
        recorded has its leases so). Leases of live processes stay theirs; others' end when
        their holders stop renewing them."""
        now = self._clock.now()
        platforms = list(self._surfaces)
        holders = await self._store.lease_holders(now=now, platforms=platforms)
        dead = [holder for holder in holders if known_dead(holder)]
        if not dead and not starting:
            return 0
        return await self._store.reschedule_active(
            now=now,
            platforms=platforms,
            holders=dead,
            owner=self._config.owner,
            unheld=starting,
        )
