"""The job service: one request's whole life, as compare-and-set steps on the store.

`submit` validates and reserves quota in one transaction; everything after that is driven by
`advance`, which the scheduler calls for each due job (and provider webhooks will call through
`apply_status`). Every state change is a compare-and-set, so two paths that see the same
completion (a webhook and a poll, or two processes) deliver once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from bot import moderation, quota
from bot.catalog import Catalog
from bot.clock import Clock
from bot.config import ServiceConfig
from bot.errors import (
    DeliveryError,
    InvalidRequest,
    ProviderAnswerLost,
    ProviderError,
    ProviderJobNotFound,
    ProviderModelRetired,
    ProviderRateLimited,
    QuotaExceeded,
    UserFacingError,
    reference_id,
    unexpected_message,
)
from bot.links import MediaLinks
from bot.metrics import Metrics
from bot.models import (
    Actor,
    Authority,
    GenerationRequest,
    Job,
    JobState,
    Origin,
    ProviderJobState,
    ProviderStatus,
    QuotaLimits,
    QuotaReport,
    QuotaUsage,
    ResultLink,
    UsageRow,
)
from bot.ports import ChatSurface, KeepsFiles, LedgerAction, Store, VideoProvider
from bot.quota import period_at
from bot.ratelimit import CommandRateLimit
from bot.relay import CannotFit, download_to_file, fit_to_limit
from bot.retry_after import capped

# What `quota_report` answers is named here too: the adapters import it with the service.
__all__ = ["UNDELIVERABLE_SENT_PRIVATELY", "UNDELIVERED", "JobService", "QuotaReport"]

log = logging.getLogger(__name__)
T = TypeVar("T")
# Past this many jobs remembered for the callback throttle, the stale entries are dropped.
_CALLBACK_POLLS_KEPT = 10_000


# Error codes of a video made (and charged) but refused where it was asked for.
UNDELIVERABLE_SENT_PRIVATELY = "sent_privately"  # delivered to the requester alone instead
UNDELIVERED = "undelivered"  # not even that: only on disk, see `veo-bot jobs`


def new_job_id() -> str:
    return secrets.token_hex(6)


def backoff_s(failures: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter in [delay/2, delay]."""
    delay = min(cap, base * float(2 ** max(0, failures - 1)))
    return delay * (0.5 + rng.random() / 2)


class JobService:
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
        self._rng = rng or random.Random()
        self._last_progress_push: dict[str, float] = {}
        self._waiters: dict[str, list[asyncio.Future[Job]]] = {}
        self._since = clock.now()  # jobs created before this are resumed ones
        # Signs callback URLs and result links, as the web server checks them (the same one
        # instance, built by the composition root); None: neither is offered.
        self._links = links
        self._early_callbacks: set[str] = set()
        # When a callback last made each job poll at once: replays within the poll interval
        # do not make the provider be asked again.
        self._callback_polls: dict[str, float] = {}
        self._banned = moderation.BannedTerms()
        # Models a provider said are gone while the catalog thought them live: warned once.
        self._gone_models: set[tuple[str, str]] = set()
        self._wake: Callable[[], None] = lambda: None
        self._commands = CommandRateLimit(config.commands_per_minute, clock)
        # Jobs a step is running for in this process: never a second step at once, even when
        # the first outlives its lease.
        self._stepping: set[str] = set()

    def set_wakeup(self, wake: Callable[[], None]) -> None:
        """The scheduler's doorbell: rung when a job becomes due now."""
        self._wake = wake

    @property
    def in_progress(self) -> frozenset[str]:
        """The ids of the jobs a step is running for in this process."""
        return frozenset(self._stepping)

    # --- intake -------------------------------------------------------------------------

    def admit(self, origin: Origin) -> None:
        """Count one command of this person's (`/veo`, Re-roll, Extend, Animate); raise
        `UserFacingError` when they are going too fast. Adapters call it first, before any
        download, so a refused command costs a dictionary look-up and charges nothing."""
        wait = self._commands.take(origin.user_key)
        if wait <= 0:
            return
        self.metrics.count(
            "veo_commands_rate_limited_total",
            "Commands refused because one person sent too many too fast.",
            platform=origin.platform,
        )
        raise UserFacingError(
            f"You're going too fast: try again in {math.ceil(wait)} s.", code="rate_limited"
        )

    async def submit(
        self, request: GenerationRequest, origin: Origin, *, idempotency_key: str | None = None
    ) -> Job:
        """Validate, reserve quota and record the job; raises `UserFacingError` on refusal.

        Nothing is charged or sent when this raises. With `idempotency_key` (a platform's own
        id for the request), a request delivered twice returns the first job."""
        provider_name = request.provider or self.config.default_provider
        if provider_name not in self.providers:
            available = ", ".join(sorted(self.providers)) or "none"
            raise InvalidRequest(
                f"The provider {provider_name!r} is not set up on this bot "
                f"(available: {available}).",
                field="provider",
            )
        if request.model is None and provider_name == self.config.default_provider:
            request = request.model_copy(update={"model": self.config.default_model})
        if origin.platform not in self.surfaces:
            raise InvalidRequest(f"This bot does not answer on {origin.platform}.")
        valid = self.catalog.validate(request, provider=provider_name)
        self._banned.check(
            [valid.prompt, valid.negative_prompt],
            await self.store.banned_terms(origin.workspace_key),
        )
        assert valid.model is not None and valid.duration_s is not None
        spec = self.catalog.get(provider_name, valid.model)
        now = self.clock.now()
        job = Job(
            id=new_job_id(),
            origin=origin,
            request=valid,
            provider=provider_name,
            model=valid.model,
            state=JobState.PENDING,
            created_at=now,
            updated_at=now,
            deadline_at=now + self.config.job_timeout_s,
            cost_s=spec.cost_of(valid.duration_s),
            next_poll_at=now,
        )
        media = [(role, pos, img.data) for role, pos, img in valid.media()]
        try:
            stored = await self.store.create_job(
                job, media, self.config.limits, period_at(now), idempotency_key=idempotency_key
            )
        except QuotaExceeded as refusal:
            self.metrics.count(
                "veo_quota_refusals_total", "Requests refused by a quota.", limit=refusal.limit
            )
            raise
        if stored.id != job.id:
            log.info("job %s: request %s seen again, not repeated", stored.id, idempotency_key)
            return stored
        self.metrics.count(
            "veo_jobs_accepted_total",
            "Jobs accepted.",
            provider=job.provider,
            platform=origin.platform,
        )
        log.info(
            "job %s accepted: %s/%s %ss for %s",
            job.id,
            job.provider,
            job.model,
            valid.duration_s,
            origin.user_key,
        )
        self._wake()
        return job

    async def quota_usage(self, origin: Origin) -> QuotaUsage:
        period = period_at(self.clock.now())
        return await self.store.quota_usage(origin.user_key, origin.workspace_key, period)

    async def quota_report(self, origin: Origin) -> QuotaReport:
        """What a person sees for `/veo quota`: used, left, when it resets, jobs in flight."""
        now = self.clock.now()
        period = period_at(now)
        usage = await self.store.quota_usage(origin.user_key, origin.workspace_key, period)
        limits = await self.limits_for(origin)
        return QuotaReport(
            used_today_s=usage.used_today_s,
            daily_limit_s=limits.user_daily_s,
            remaining_today_s=max(0.0, limits.user_daily_s - usage.used_today_s),
            resets_at=period.day_resets_at,
            in_flight=usage.in_flight,
            concurrent_limit=limits.user_concurrent,
            workspace_used_month_s=usage.workspace_used_month_s,
            workspace_monthly_limit_s=limits.workspace_monthly_s,
        )

    async def limits_for(self, origin: Origin) -> QuotaLimits:
        return await self.store.effective_limits(
            origin.user_key, origin.workspace_key, self.config.limits
        )

    # --- what admins steer (callers check that the person is an admin) -------------------

    async def set_limits(
        self,
        actor: Actor,
        scope: str,
        subject: str,
        *,
        daily_s: float | None = None,
        concurrent: int | None = None,
        monthly_s: float | None = None,
    ) -> None:
        """Set limits as `actor`'s word. The operator sets any sane number; a workspace admin
        only numbers within the operator's caps for that subject (`quota.check_within_caps`),
        and their rows are kept apart from the operator's, the tighter applying."""
        if scope not in ("user", "workspace"):
            raise InvalidRequest("Limits are set for a user or a workspace.")
        if scope == "user" and monthly_s is not None:
            raise InvalidRequest("The monthly limit belongs to a workspace, not a user.")
        if daily_s is None and concurrent is None and monthly_s is None:
            raise InvalidRequest("Give at least one limit to set.")
        quota.check_limit_values(daily_s=daily_s, concurrent=concurrent, monthly_s=monthly_s)
        if actor.authority is Authority.WORKSPACE_ADMIN:
            assert actor.workspace_key is not None
            if scope == "workspace":
                overrides = await self.store.limit_overrides(None, subject)
            else:
                overrides = await self.store.limit_overrides(subject, actor.workspace_key)
            caps = quota.operator_caps(self.config.limits, overrides)
            quota.check_within_caps(
                caps, daily_s=daily_s, concurrent=concurrent, monthly_s=monthly_s
            )
        await self.store.set_override(
            scope,
            subject,
            set_by=actor.authority,
            now=self.clock.now(),
            daily_s=daily_s,
            concurrent=int(concurrent) if concurrent is not None else None,
            monthly_s=monthly_s,
        )

    async def clear_limits(self, actor: Actor, scope: str, subject: str) -> bool:
        """A workspace admin clears their own limits for the subject; the operator, all."""
        mine = actor.authority if actor.authority is Authority.WORKSPACE_ADMIN else None
        return await self.store.clear_override(scope, subject, set_by=mine)

    async def reset_day(self, actor: Actor, user_key: str) -> None:
        """Give a person today's quota back. Never one's own: the CLI (no chat identity,
        shell access) may reset anyone."""
        if actor.user_key is not None and actor.user_key == user_key:
            raise InvalidRequest(
                "Nobody resets their own day: ask another admin, or the bot's operator."
            )
        now = self.clock.now()
        await self.store.reset_day(user_key, period_at(now).day, now=now)

    async def set_blocked(self, user_key: str, blocked: bool) -> bool:
        return await self.store.set_blocked(user_key, blocked, now=self.clock.now())

    async def set_banned(self, workspace_key: str, term: str, banned: bool) -> bool:
        if banned:
            moderation.compile_term(term)  # refuses a term that cannot work, in plain words
        return await self.store.set_banned_term(
            workspace_key,
            term.strip(),
            banned,
            now=self.clock.now(),
            max_terms=moderation.MAX_TERMS,
        )

    async def usage(
        self, month: str | None = None, workspace_key: str | None = None
    ) -> list[UsageRow]:
        return await self.store.usage_report(
            month or period_at(self.clock.now()).month, workspace_key
        )

    async def get_job(self, job_id: str) -> Job | None:
        return await self.store.get_job(job_id)

    async def revoke_result(self, job: Job, *, by: str) -> None:
        """Delete was pressed (callers check it was the requester or an admin): the job's
        result link stops working for good, recorded so that a restart keeps it so, and a
        video kept for that link is removed."""
        if await self.store.revoke_result(job.id, by=by, now=self.clock.now()):
            log.info("job %s: result link revoked by %s", job.id, by)
        kept = self.config.results_dir / f"{job.id}.mp4"
        await asyncio.to_thread(kept.unlink, missing_ok=True)

    async def reroll(self, job_id: str, origin: Origin) -> Job:
        """The same request with a new seed, charged to whoever asked, as a new job."""
        previous = await self.store.get_job(job_id)
        if previous is None:
            raise InvalidRequest("That video is no longer known to the bot.")
        # The quota first: a refused re-roll never loads the stored images (up to 40 MB).
        spec = self.catalog.get(previous.provider, previous.model)
        cost = spec.cost_of(previous.request.duration_s or spec.default_duration)
        now = self.clock.now()
        try:
            await self.store.check_quota(origin, cost, self.config.limits, period_at(now), now=now)
        except QuotaExceeded as refusal:
            self.metrics.count(
                "veo_quota_refusals_total", "Requests refused by a quota.", limit=refusal.limit
            )
            raise
        blobs = await self.store.load_media(job_id)
        if len(blobs) < len(previous.request.media()):
            days = self.config.retention_s / 86400
            raise InvalidRequest(
                f"The images of that video were deleted after {days:g} days, as all are; "
                "start a new request with them."
            )
        request = previous.request.with_media(blobs).model_copy(update={"seed": None})
        return await self.submit(request, origin)

    async def wait_until_done(self, job_id: str) -> Job:
        """Wait for the job to reach a terminal state (in this process or found in the store).
        A job that a step here has just ended is done once that step has said so where the
        job came from (the failure reported, the video posted), not as soon as it is stored."""
        future: asyncio.Future[Job] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(job_id, []).append(future)
        try:
            job = await self.store.get_job(job_id)
            if job is not None and job.state.is_terminal and job_id not in self._stepping:
                return job
            return await future
        finally:
            waiters = self._waiters.get(job_id, [])
            if future in waiters:
                waiters.remove(future)
            if not waiters:
                self._waiters.pop(job_id, None)

    # --- the state machine --------------------------------------------------------------

    async def advance(self, job: Job) -> None:
        """Take one step for a due job. Raises only on cancellation, or when the store fails
        even to record what went wrong (the scheduler then tries the job again soon). A job
        that already has a step running in this process is left to that step."""
        if job.id in self._stepping:
            log.info("job %s: a step is already running for it here", job.id)
            return
        self._stepping.add(job.id)
        try:
            await self._step(job)
        finally:
            self._stepping.discard(job.id)
        if self._waiters.get(job.id):
            # Someone waits, and this step may have ended without word of the job's end: it
            # ended by another path (another worker finished it).
            current = await self.store.get_job(job.id)
            if current is not None and current.state.is_terminal:
                self._settled(current)

    async def _step(self, job: Job) -> None:
        if job.provider not in self.providers:
            # The job belongs to a provider this process has no key for: leave it to one that
            # has, without counting it as a failure.
            log.warning("job %s: provider %s is not configured here", job.id, job.provider)
            await self.store.update(
                job.id,
                version=job.version,
                now=self.clock.now(),
                next_poll_at=self.clock.now() + self.config.backoff_cap_s,
            )
            return
        try:
            if self.clock.now() >= job.deadline_at and job.state in (
                JobState.PENDING,
                JobState.SUBMITTED,
                JobState.RUNNING,
            ):
                await self._time_out(job)
            elif job.state is JobState.PENDING:
                await self._start(job)
            elif job.state.at_provider:
                await self._poll(job)
            elif job.state in (JobState.SUCCEEDED, JobState.DELIVERING):
                await self._deliver(job)
        except asyncio.CancelledError:
            raise
        except Exception:
            ref = reference_id()
            log.exception("job %s: unexpected error in state %s (ref %s)", job.id, job.state, ref)
            await self._after_failure(job, code="unexpected", message=unexpected_message(ref))

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
        now = self.clock.now()
        provider = self.providers.get(job.provider)
        interval = self._poll_interval(provider) if provider else self.config.poll_interval_s
        last = self._callback_polls.get(job.id)
        if last is not None and now - last < interval:
            return "throttled"
        if len(self._callback_polls) >= _CALLBACK_POLLS_KEPT:
            self._callback_polls = {
                k: t for k, t in self._callback_polls.items() if now - t < interval
            }
        self._callback_polls[job.id] = now  # before the await: concurrent replays see it
        moved = await self.store.update(job.id, version=job.version, now=now, next_poll_at=now)
        if moved is None:
            return "raced"
        self._wake()
        return "polling"

    async def apply_status(self, job: Job, status: ProviderStatus) -> None:
        """Act on a provider reading, from a poll or a webhook."""
        if status.state is ProviderJobState.SUCCEEDED:
            won = await self.store.transition(
                job.id,
                (JobState.SUBMITTED, JobState.RUNNING),
                JobState.SUCCEEDED,
                now=self.clock.now(),
                progress=100,
                result_url=status.video_url,
                poll_failures=0,
                next_poll_at=self.clock.now(),
            )
            if won is not None:
                await self._deliver(won, status)
        elif status.state is ProviderJobState.FAILED:
            await self._fail(
                job,
                JobState.FAILED,
                code=status.error_code or "provider_failed",
                message=status.error_message or "The video provider could not make this video.",
            )
        else:
            await self._progress(job, status)

    async def _start(self, job: Job) -> None:
        provider = self.providers[job.provider]
        if not job.origin.refs:
            job = await self._post_status_card(job)
        if job.submit_attempts and job.error_code is None and not provider.idempotent_submit:
            # A submit was under way when the process stopped: it may have reached the
            # provider, and submitting again could start (and bill) a second video.
            await self._fail(
                job,
                JobState.FAILED,
                code="submit_interrupted",
                message="The bot restarted while starting this video and cannot tell whether "
                "the provider got it, so it was stopped. Nothing was charged; please try again.",
            )
            return
        now = self.clock.now()
        started = await self.store.update(
            job.id,
            version=job.version,
            now=now,
            submit_attempts=job.submit_attempts + 1,
            error_code=None,
            next_poll_at=now + self.config.lease_s,
        )
        if started is None:
            return  # someone else moved the job on
        request = job.request.with_media(await self.store.load_media(job.id))
        try:
            provider_job_id = await self._timed(
                job.provider,
                "submit",
                provider.submit(job.id, request, callback_url=self.callback_url(job)),
            )
        except ProviderAnswerLost as err:
            if provider.idempotent_submit:
                await self._retry_later(started, err, counter="submit_attempts")
                return
            # The provider may have started (and billed) it: never submit it a second time.
            log.warning("job %s: submit answer lost: %s", job.id, err.detail)
            await self._fail(
                started,
                JobState.FAILED,
                code="submit_answer_lost",
                message="The video provider stopped answering while this video was being "
                "started, so the bot cannot tell whether it began; it was stopped rather than "
                "risk making and paying for it twice. Please try again.",
            )
            return
        except ProviderModelRetired as err:
            await self._fail(
                started, JobState.FAILED, code=err.code, message=self._model_gone(job, err)
            )
            return
        except ProviderError as err:
            if self._may_retry(err, started.submit_attempts, self.config.max_submit_attempts):
                await self._retry_later(started, err, counter="submit_attempts")
            else:
                await self._fail(started, JobState.FAILED, code=err.code, message=err.user_message)
                log.warning("job %s: submit refused: %s", job.id, err)
            return
        now = self.clock.now()
        # A callback that beat the submit answer means the job may already be done: look now.
        early = job.id in self._early_callbacks
        self._early_callbacks.discard(job.id)
        submitted = await self.store.transition(
            job.id,
            (JobState.PENDING,),
            JobState.SUBMITTED,
            now=now,
            provider_job_id=provider_job_id,
            next_poll_at=now if early else now + self._poll_interval(provider),
        )
        if submitted is not None:
            log.info("job %s submitted to %s as %s", job.id, job.provider, provider_job_id)
            self._wake()

    async def _poll(self, job: Job) -> None:
        provider = self.providers[job.provider]
        assert job.provider_job_id is not None
        try:
            status = await self._timed(
                job.provider, "status", provider.get_status(job.provider_job_id)
            )
        except ProviderError as err:
            if self._may_retry(err, job.poll_failures, self.config.max_failures):
                await self._retry_later(job, err, counter="poll_failures")
            else:
                await self._fail(job, JobState.FAILED, code=err.code, message=err.user_message)
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
            return self.catalog.retirement(self.catalog.get(job.provider, job.model))
        except InvalidRequest as refused:  # retired in the catalog meanwhile, or unknown
            return refused.user_message

    @staticmethod
    def _may_retry(err: ProviderError, attempts: int, limit: int) -> bool:
        """Whether to ask the provider again. A rate limit is waited out however often it
        comes, as it says when to come back: the job's wall-clock deadline bounds it (this is
        only for submits and polls, which that deadline covers). Other errors: `limit` tries."""
        return err.retryable and (isinstance(err, ProviderRateLimited) or attempts < limit)

    async def _progress(self, job: Job, status: ProviderStatus) -> None:
        provider = self.providers[job.provider]
        now = self.clock.now()
        progress = max(job.progress, min(99, status.progress or 0))
        next_poll_at = now + self._poll_interval(provider)
        if job.state is JobState.SUBMITTED and status.state is ProviderJobState.RUNNING:
            updated = await self.store.transition(
                job.id,
                (JobState.SUBMITTED,),
                JobState.RUNNING,
                now=now,
                progress=progress,
                poll_failures=0,
                next_poll_at=next_poll_at,
            )
        else:
            updated = await self.store.update(
                job.id,
                version=job.version,
                now=now,
                progress=progress,
                poll_failures=0,
                next_poll_at=next_poll_at,
            )
        if updated is not None:
            # Where it waits in the provider's queue is news for the card, not for the store.
            await self._push_progress(replace(updated, queue_position=status.queue_position))

    async def _push_progress(self, job: Job) -> None:
        surface = self.surfaces[job.origin.platform]
        now = self.clock.now()
        last = self._last_progress_push.get(job.id)
        if last is not None and now - last < surface.progress_interval_s:
            return
        self._last_progress_push[job.id] = now
        try:
            await surface.update_progress(job)
        except DeliveryError as err:
            log.warning("job %s: progress update failed: %s", job.id, err)

    async def _deliver(self, job: Job, status: ProviderStatus | None = None) -> None:
        surface = self.surfaces[job.origin.platform]
        if job.state is JobState.SUCCEEDED:
            claimed = await self.store.transition(
                job.id,
                (JobState.SUCCEEDED,),
                JobState.DELIVERING,
                now=self.clock.now(),
                next_poll_at=self.clock.now() + self.config.lease_s,
            )
            if claimed is None:
                return  # another path is delivering it
            job = claimed
        else:
            # Back in `delivering` after a crash or a failed try: the video may already be up.
            try:
                found = await surface.find_delivery(job)
            except DeliveryError as err:
                if err.retryable and job.poll_failures < self.config.max_failures:
                    await self._retry_later(job, err, counter="poll_failures")
                    return
                # The place cannot even be read (the bot was removed from it): nothing of ours
                # can have arrived there, and posting fails the same way, handled below.
                log.warning("job %s: cannot look for an earlier post: %s", job.id, err)
                found = None
            if found is not None:
                log.info("job %s: result already posted, recording it", job.id)
                await self._finish(job, found)
                return
        # A folder of this run's own: a second run (another worker whose lease ran out) never
        # writes into the files of this one.
        work = await asyncio.to_thread(_scratch_dir, self.config.work_dir, job.id)
        video = work / "video.mp4"
        held = False  # whether the video is on disk: from then on the provider's work is kept
        link: ResultLink | None = None
        deadline = asyncio.timeout(self.config.delivery_timeout_s)
        try:
            async with deadline:
                size = await self._fetch_result(job, status, video)
                held = True
                limit = surface.upload_limit_bytes(job)
                if limit is not None and size > limit:
                    try:
                        size = await self._fit(job, video, limit)
                    except CannotFit as exc:
                        link = await self._keep_for_link(job, video, exc)
                if not await self._still_ours(job):
                    return
                notice = await self._remaining_notice(job)
                if link is None:
                    refs = await surface.deliver(job, video, notice=notice)
                else:
                    refs = await surface.deliver_link(job, link, notice=notice)
                    refs = refs | {"link_expires_at": f"{link.expires_at:.0f}"}
        except TimeoutError:
            if not deadline.expired():
                raise
            seconds = f"{self.config.delivery_timeout_s:g}"
            log.warning("job %s: delivery abandoned after %s s", job.id, seconds)
            late = DeliveryError(
                f"delivery took longer than {seconds} s",
                user_message=(
                    "Posting the video took too long."
                    if held
                    else "The video was made, but fetching it from the provider took too long."
                ),
            )
            await self._delivery_failed(job, late, video if held else None, link)
            return
        except (ProviderError, DeliveryError) as err:
            await self._delivery_failed(job, err, video if held else None, link)
            return
        finally:
            await asyncio.to_thread(shutil.rmtree, work, ignore_errors=True)
        await self._finish(job, refs, result_bytes=size)

    async def _delivery_failed(
        self,
        job: Job,
        err: ProviderError | DeliveryError,
        video: Path | None,
        link: ResultLink | None,
    ) -> None:
        """After a delivery that went wrong: try again later, or end the job. `video` is the
        result on disk when it was fetched (None: it never was)."""
        if err.retryable and job.poll_failures < self.config.max_failures:
            await self._retry_later(job, err, counter="poll_failures")
        elif video is not None and isinstance(err, DeliveryError):
            await self._undeliverable(job, video, link, err)
        else:
            # The provider never handed the video over: nothing anyone could watch.
            message = err.user_message or "The video was made but could not be posted here."
            await self._fail(job, JobState.FAILED, code="delivery_failed", message=message)

    async def _still_ours(self, job: Job) -> bool:
        """Whether this run may post: no other worker finished or took over the job while this
        one fetched the video (its lease can run out under a worker that stalls)."""
        current = await self.store.get_job(job.id)
        if (
            current is not None
            and current.state is JobState.DELIVERING
            and current.version == job.version
        ):
            return True
        log.warning("job %s: taken over by another worker; this run does not post it", job.id)
        return False

    async def _undeliverable(
        self, job: Job, video: Path, link: ResultLink | None, why: DeliveryError
    ) -> None:
        """The provider made (and billed) the video, but the place it was asked for will not
        take it: the bot was removed, the thread deleted or archived, the file too large
        there. The quota stays spent, so nobody can force such a failure to get a refund. The
        video goes to the requester privately, and stays on disk for the retention period
        either way, where `veo-bot jobs` shows it."""
        surface = self.surfaces[job.origin.platform]
        kept = self.config.results_dir / f"{job.id}.mp4"
        await asyncio.to_thread(_move_into, video, kept)  # a link's video is there already
        log.warning("job %s: cannot be posted where it was asked for (%s)", job.id, why)
        try:
            refs: dict[str, str] | None = await surface.deliver_privately(
                job, kept, link=link, notice=await self._remaining_notice(job)
            )
        except DeliveryError as err:
            log.warning("job %s: could not be sent privately either: %s", job.id, err)
            refs = None
        if refs is not None:
            outcome = "sent_privately"
            done = await self.store.transition(
                job.id,
                (JobState.DELIVERING,),
                JobState.DELIVERED,
                now=self.clock.now(),
                ledger=LedgerAction.SETTLE,
                delivery_refs=refs | {"path": str(kept)},
                progress=100,
                error_code=UNDELIVERABLE_SENT_PRIVATELY,
                error_message=why.user_message,
            )
        else:
            outcome = "kept"
            refused = why.user_message or "The video was made, but it could not be posted here."
            message = (
                f"{refused} It could not be sent to you directly either. Its {job.cost_s:g} s "
                f"count, as the provider made it; an admin can hand it over (job {job.id})."
            )
            done = await self.store.transition(
                job.id,
                (JobState.DELIVERING,),
                JobState.FAILED,
                now=self.clock.now(),
                ledger=LedgerAction.SETTLE,
                delivery_refs={"path": str(kept)},
                progress=100,
                error_code=UNDELIVERED,
                error_message=message,
            )
            if done is not None:
                try:
                    await surface.report_failure(done, message)
                except DeliveryError as err:
                    log.warning("job %s: could not report the failure: %s", job.id, err)
        if done is None:
            return
        log.info("job %s made but not posted where asked: %s, kept at %s", job.id, outcome, kept)
        self.metrics.count(
            "veo_undeliverable_total",
            "Videos made but refused where they were asked for (charged, kept on disk).",
            platform=job.origin.platform,
            outcome=outcome,
        )
        self._settled(done)

    async def _fit(self, job: Job, path: Path, limit: int) -> int:
        """Re-encode the video in place so that it fits the destination's upload limit;
        `CannotFit` when no encoding does."""
        fitted = path.with_name(f"fitted-{path.name}")
        stop = threading.Event()
        try:
            size = await _in_worker(stop, lambda: fit_to_limit(path, fitted, limit, stop=stop))
        except CannotFit as exc:
            log.warning("job %s: %s", job.id, exc)
            fitted.unlink(missing_ok=True)
            raise
        os.replace(fitted, path)
        log.info("job %s: re-encoded to %d bytes to fit %d", job.id, size, limit)
        self.metrics.count(
            "veo_reencodes_total",
            "Results re-encoded to fit an upload limit.",
            platform=job.origin.platform,
        )
        return size

    async def _keep_for_link(self, job: Job, path: Path, why: CannotFit) -> ResultLink:
        """The last resort for a video too large to upload even re-encoded: keep it where the
        bot's web server serves it, behind a signed link that expires. Without a public URL
        (VEO_PUBLIC_URL) nobody could open such a link, and the job fails instead."""
        ttl_s = self.config.result_link_ttl_s
        link = self._links.result_link(job.id, ttl_s) if self._links is not None else None
        if link is None:
            raise DeliveryError(
                str(why),
                retryable=False,
                user_message="The video is too large to post here, even compressed.",
            ) from why
        kept = self.config.results_dir / f"{job.id}.mp4"
        await asyncio.to_thread(_keep, path, kept, older_than=self.clock.now() - ttl_s)
        log.info("job %s: too large to upload even re-encoded; posting a link", job.id)
        self.metrics.count(
            "veo_result_links_total",
            "Results posted as a link because they could not be made to fit.",
            platform=job.origin.platform,
        )
        return link

    async def _fetch_result(self, job: Job, status: ProviderStatus | None, path: Path) -> int:
        """Download the result to `path`; a reading that is not fresh is refreshed when its
        URL turns out to have expired."""
        fresh = False
        if status is None or status.state is not ProviderJobState.SUCCEEDED:
            status, fresh = await self._fresh_result(job), True
        while True:
            try:
                return await download_to_file(
                    self.providers[job.provider].download(status),
                    path,
                    max_bytes=self.config.max_result_bytes,
                )
            except ProviderJobNotFound:
                if fresh:
                    raise
                log.info("job %s: result URL expired, asking the provider for a new one", job.id)
                status, fresh = await self._fresh_result(job), True

    async def _timed(self, provider: str, operation: str, call: Awaitable[T]) -> T:
        """Await a provider call, recording its latency and outcome."""
        start = time.perf_counter()
        outcome = "ok"
        try:
            return await call
        except ProviderError as err:
            outcome = err.code
            raise
        finally:
            self.metrics.observe(
                "veo_provider_call_seconds",
                "Latency of calls to video providers.",
                time.perf_counter() - start,
                provider=provider,
                operation=operation,
            )
            self.metrics.count(
                "veo_provider_calls_total",
                "Calls to video providers by outcome.",
                provider=provider,
                operation=operation,
                outcome=outcome,
            )

    async def _fresh_result(self, job: Job) -> ProviderStatus:
        assert job.provider_job_id is not None
        provider = self.providers[job.provider]
        status = await self._timed(job.provider, "status", provider.get_status(job.provider_job_id))
        if status.state is not ProviderJobState.SUCCEEDED:
            raise DeliveryError(f"provider reports {status.state} for a finished job")
        return status

    async def _finish(
        self, job: Job, refs: dict[str, str], result_bytes: int | None = None
    ) -> None:
        done = await self.store.transition(
            job.id,
            (JobState.DELIVERING,),
            JobState.DELIVERED,
            now=self.clock.now(),
            ledger=LedgerAction.SETTLE,
            delivery_refs=refs,
            progress=100,
            result_bytes=result_bytes if result_bytes is not None else job.result_bytes,
        )
        if done is not None:
            log.info("job %s delivered", job.id)
            self.metrics.count(
                "veo_deliveries_total", "Videos posted.", platform=job.origin.platform
            )
            self._settled(done)

    async def _time_out(self, job: Job) -> None:
        minutes = self.config.job_timeout_s / 60
        if job.provider_job_id is not None:
            # Stop it at the provider too, where the provider can, so it stops costing money.
            try:
                await self._timed(
                    job.provider, "cancel", self.providers[job.provider].cancel(job.provider_job_id)
                )
            except ProviderError as err:
                log.warning("job %s: could not cancel it at the provider: %s", job.id, err)
        await self._fail(
            job,
            JobState.TIMED_OUT,
            code="timed_out",
            message=f"The video took longer than {minutes:g} minutes, so it was stopped.",
        )

    async def _fail(self, job: Job, state: JobState, *, code: str, message: str) -> None:
        done = await self.store.transition(
            job.id,
            (job.state,),
            state,
            now=self.clock.now(),
            ledger=LedgerAction.REFUND,
            error_code=code,
            error_message=message,
        )
        if done is None:
            return
        log.info("job %s %s (%s)", job.id, state, code)
        self.metrics.count(
            "veo_jobs_ended_unsuccessfully_total",
            "Jobs failed, timed out or cancelled.",
            state=state.value,
            code=code,
        )
        surface = self.surfaces.get(job.origin.platform)
        if surface is not None:
            try:
                await surface.report_failure(
                    done, f"{message} The {job.cost_s:g} s it would have used were not charged."
                )
            except DeliveryError as err:
                log.warning("job %s: could not report the failure: %s", job.id, err)
        self._settled(done)

    async def _after_failure(self, job: Job, *, code: str, message: str) -> None:
        current = await self.store.get_job(job.id)
        if current is None or current.state.is_terminal:
            return
        if current.poll_failures >= self.config.max_failures:
            await self._fail(current, JobState.FAILED, code=code, message=message)
        else:
            await self._retry_later(current, None, counter="poll_failures")

    async def _retry_later(self, job: Job, err: Exception | None, *, counter: str) -> None:
        failures = job.submit_attempts if counter == "submit_attempts" else job.poll_failures
        delay = backoff_s(
            failures + 1,
            base=self.config.poll_interval_s,
            cap=self.config.backoff_cap_s,
            rng=self._rng,
        )
        if isinstance(err, ProviderRateLimited | DeliveryError):
            delay = max(delay, capped(err.retry_after) or 0.0)
        next_poll_at = self.clock.now() + delay
        if job.state in (JobState.PENDING, JobState.SUBMITTED, JobState.RUNNING):
            # Never asleep past the deadline (`advance` times these states out when it comes).
            next_poll_at = min(next_poll_at, job.deadline_at)
        changes: dict[str, object] = {"next_poll_at": next_poll_at}
        if counter == "poll_failures":
            changes["poll_failures"] = job.poll_failures + 1
        if err is not None:
            changes["error_code"] = getattr(err, "code", "delivery_retry")
        log.warning("job %s: will retry in %.1fs after %s", job.id, delay, err)
        await self.store.update(job.id, version=job.version, now=self.clock.now(), **changes)

    # --- helpers ------------------------------------------------------------------------

    async def _post_status_card(self, job: Job) -> Job:
        surface = self.surfaces[job.origin.platform]
        try:
            # A job from before this process started may have its card up already: the last
            # one died between posting it and recording it.
            found = await surface.find_status(job) if job.created_at < self._since else None
            refs = found if found is not None else await surface.post_status(job)
        except DeliveryError as err:
            log.warning("job %s: could not post the status card: %s", job.id, err)
            return job
        origin = job.origin.model_copy(update={"refs": refs})
        updated = await self.store.update(
            job.id, version=job.version, now=self.clock.now(), origin=origin
        )
        return updated or replace(job, origin=origin)

    async def _remaining_notice(self, job: Job) -> str | None:
        report = await self.quota_report(job.origin)
        return f"{report.remaining_today_s:g} s of your {report.daily_limit_s:g} s left today."

    def callback_url(self, job: Job) -> str | None:
        """Where the job's provider may call back; None when the bot is not reachable."""
        return self._links.callback_url(job) if self._links is not None else None

    def _poll_interval(self, provider: VideoProvider) -> float:
        return provider.poll_interval_s or self.config.poll_interval_s

    def _settled(self, job: Job) -> None:
        self._last_progress_push.pop(job.id, None)
        self._callback_polls.pop(job.id, None)
        for future in self._waiters.get(job.id, []):
            if not future.done():
                future.set_result(job)

    async def purge_expired(self, *, batch: int = 100) -> int:
        """Remove what finished jobs keep once their retention period is over: their input
        images, the local renderer's files, a result kept on disk. The job's record stays,
        for usage reports and `veo-bot jobs`. Returns how many jobs were purged."""
        cutoff = self.clock.now() - self.config.retention_s
        purged = 0
        while jobs := await self.store.expired_jobs(finished_before=cutoff, limit=batch):
            for job in jobs:
                await self._purge(job)
            purged += len(jobs)
        if purged:
            log.info("purged the files of %d job(s) finished before the retention period", purged)
            self.metrics.count(
                "veo_purged_jobs_total",
                "Finished jobs whose files were removed after the retention period.",
                amount=purged,
            )
        return purged

    async def _purge(self, job: Job) -> None:
        provider = self.providers.get(job.provider)
        if isinstance(provider, KeepsFiles) and job.provider_job_id is not None:
            try:
                await provider.discard(job.provider_job_id)
            except OSError as exc:
                log.warning("job %s: the provider's files stay: %s", job.id, exc)
        kept = self.config.results_dir / f"{job.id}.mp4"
        await asyncio.to_thread(kept.unlink, missing_ok=True)
        # Scratch folders of delivery runs a crash cut short (a run removes its own).
        await asyncio.to_thread(_remove_scratch_dirs, self.config.work_dir, job.id)
        await self.store.mark_purged(job.id, now=self.clock.now())

    async def reschedule_active(self) -> int:
        """On start: make every unfinished job due now, so this process picks it up again."""
        return await self.store.reschedule_active(
            now=self.clock.now(), platforms=list(self.surfaces)
        )


def _scratch_dir(work_dir: Path, job_id: str) -> Path:
    """A new, empty folder for one delivery run of one job."""
    work_dir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{job_id}-", dir=work_dir))


def _remove_scratch_dirs(work_dir: Path, job_id: str) -> None:
    for folder in work_dir.glob(f"{job_id}-*"):
        shutil.rmtree(folder, ignore_errors=True)


def _move_into(path: Path, dest: Path) -> None:
    """Move a file to `dest` when it is still there (else it was moved there already)."""
    if path.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, dest)


async def _in_worker(stop: threading.Event, call: Callable[[], T]) -> T:
    """Run blocking `call` in a worker thread. When the caller is cancelled (a deadline), tell
    the work to stop through `stop` and wait for the thread to end, so that no thread goes on
    writing files its caller is about to remove; the cancellation then goes on."""
    worker = asyncio.ensure_future(asyncio.to_thread(call))
    try:
        return await asyncio.shield(worker)
    except asyncio.CancelledError:
        stop.set()
        with contextlib.suppress(Exception):  # how it ended no longer matters
            await worker
        raise


def _keep(path: Path, kept: Path, *, older_than: float) -> None:
    """Move a result into the results directory, dropping results whose links have expired."""
    kept.parent.mkdir(parents=True, exist_ok=True)
    for old in kept.parent.glob("*.mp4"):
        if old.stat().st_mtime < older_than:
            old.unlink(missing_ok=True)
    os.replace(path, kept)
