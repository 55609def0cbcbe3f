"""Intake: a person's request becomes a job, or a refusal that changes nothing.

In order, cheapest first: the command rate limit (`admit`, before the adapter downloads
anything), the channel's rules (closed to `/veo`, or its defaults filled in where the person
chose nothing: `bot.channels`), the request against the model catalog, the workspace's banned
terms, then the quota (the channel's daily budget among it), checked and reserved in the same
transaction as the job's insert. Re-rolls take the same path with the stored request.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Awaitable, Callable, Collection

from bot import channels, i18n, moderation
from bot.catalog import Catalog
from bot.channels import ChannelRule, ChannelRules
from bot.clock import Clock
from bot.config import ServiceConfig
from bot.errors import InvalidRequest, QuotaExceeded, UserFacingError
from bot.i18n import _
from bot.metrics import CREATED, Metrics
from bot.models import (
    GenerationRequest,
    Job,
    JobState,
    Origin,
    QuotaLimits,
    QuotaReport,
    QuotaUsage,
)
from bot.ports import Store
from bot.quota import period_at
from bot.ratelimit import CommandRateLimit
from bot.variant_intake import record_takes

log = logging.getLogger(__name__)


def new_job_id() -> str:
    """A fresh job id: short, random, safe in URLs and file names."""
    return secrets.token_hex(6)


class Intake:
    """Admits, validates, moderates and records requests, reserving their quota."""

    def __init__(
        self,
        *,
        store: Store,
        catalog: Catalog,
        providers: Collection[str],
        platforms: Collection[str],
        config: ServiceConfig,
        clock: Clock,
        metrics: Metrics,
        wake: Callable[[], None],
        announce: Callable[[str, str], Awaitable[None]],
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._providers = providers
        self._platforms = platforms
        self._config = config
        self._clock = clock
        self._metrics = metrics
        self._wake = wake
        self._announce = announce
        self._banned = moderation.BannedTerms()
        self._commands = CommandRateLimit(config.commands_per_minute, clock)

    def admit(self, origin: Origin) -> None:
        """Count one command of this person's (`/veo`, Re-roll, Extend, Animate); raise
        `UserFacingError` when they are going too fast. Adapters call it first, before any
        download, so a refused command costs a dictionary look-up and charges nothing."""
        wait = self._commands.take(origin.user_key)
        if wait <= 0:
            return
        self._metrics.count(
            "veo_commands_rate_limited_total",
            "Commands refused because one person sent too many too fast.",
            platform=origin.platform,
        )
        raise UserFacingError(
            _("You're going too fast: try again in {seconds}.").format(
                seconds=i18n.seconds(math.ceil(wait))
            ),
            code="rate_limited",
        )

    async def submit(
        self, request: GenerationRequest, origin: Origin, *, idempotency_key: str | None = None
    ) -> Job:
        """Validate, reserve quota and record the job; raises `UserFacingError` on refusal.

        Nothing is charged or sent when this raises. With `idempotency_key` (a platform's own
        id for the request), a request delivered twice returns the first job."""
        rule = await self.channel_rule(origin)
        request = channels.apply(rule, request)
        provider_name = request.provider or self._config.default_provider
        if provider_name not in self._providers:
            available = ", ".join(sorted(self._providers)) or "none"
            raise InvalidRequest(
                _(
                    "The provider {provider} is not set up on this bot (available: {available})."
                ).format(provider=repr(provider_name), available=available),
                field="provider",
            )
        if request.model is None and provider_name == self._config.default_provider:
            request = request.model_copy(update={"model": self._config.default_model})
        if origin.platform not in self._platforms:
            raise InvalidRequest(
                _("This bot does not answer on {platform}.").format(platform=origin.platform)
            )
        if request.aspect_ratio is None and rule.aspect_ratio is not None:
            offered = self._catalog.get(provider_name, request.model).aspect_ratios
            request = channels.aspect_for(rule, request, offered)
        valid = self._catalog.validate(request, provider=provider_name)
        self._banned.check(
            [valid.prompt, valid.negative_prompt],
            await self._store.banned_terms(origin.workspace_key),
        )
        assert valid.model is not None and valid.duration_s is not None
        spec = self._catalog.get(provider_name, valid.model)
        now = self._clock.now()
        if origin.locale is None:
            # The job keeps the language its request was answered in: progress, delivery,
            # failures and refunds later speak it too (`Lifecycle.advance`).
            origin = origin.model_copy(update={"locale": i18n.current()})
        job = Job(
            id=new_job_id(),
            origin=origin,
            request=valid,
            provider=provider_name,
            model=valid.model,
            state=JobState.PENDING,
            created_at=now,
            updated_at=now,
            deadline_at=now + self._config.job_timeout_s,
            cost_s=spec.cost_of(valid.duration_s),
            cost_micro_usd=spec.price_micro_usd(
                valid.duration_s, audio=bool(valid.audio), resolution=valid.resolution
            ),
            due_at=now,
            owner=self._config.owner,
            owner_until=now + self._config.owner_lease_s if self._config.owns_jobs else None,
        )
        media = [(role, pos, img.data) for role, pos, img in valid.media()]
        try:
            if valid.count > 1:  # variants: one job or a group, reserved together
                ids = [new_job_id() for _ in range(valid.count - 1)]
                takes = await record_takes(
                    self._store,
                    job,
                    spec=spec,
                    media=media,
                    limits=self._config.limits,
                    period=period_at(now),
                    ids=ids,
                    idempotency_key=idempotency_key,
                )
                stored = takes[0]
                job = stored if stored.id == job.id else job
            else:
                stored = await self._store.create_job(
                    job, media, self._config.limits, period_at(now), idempotency_key=idempotency_key
                )
        except QuotaExceeded as refusal:
            self._metrics.count(
                "veo_quota_refusals_total", "Requests refused by a quota.", limit=refusal.limit
            )
            raise
        if stored.id != job.id:
            log.info("job %s: request %s seen again, not repeated", stored.id, idempotency_key)
            return stored
        self._metrics.count(
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
        if stored.state is JobState.QUEUED:
            self._metrics.count(
                "veo_jobs_queued_total",
                "Jobs accepted to wait at the bot for a free slot (issue 18).",
                platform=origin.platform,
            )
        self._wake()  # this replica's scheduler, at once
        await self._announce(CREATED, stored.id)  # and the others', when there are
        return stored

    async def reroll(self, job_id: str, origin: Origin) -> Job:
        """The same request with a new seed, charged to whoever asked, as a new job."""
        previous = await self._store.get_job(job_id)
        if previous is None:
            raise InvalidRequest(_("That video is no longer known to the bot."))
        # The channel and the quota first: a refused re-roll never loads the stored images
        # (up to 40 MB).
        await self.channel_rule(origin)
        spec = self._catalog.get(previous.provider, previous.model)
        duration = previous.request.duration_s or spec.default_duration
        cost = spec.cost_of(duration)
        price = spec.price_micro_usd(
            duration, audio=bool(previous.request.audio), resolution=previous.request.resolution
        )
        now = self._clock.now()
        try:
            await self._store.check_quota(
                origin, cost, self._config.limits, period_at(now), now=now, cost_micro_usd=price
            )
        except QuotaExceeded as refusal:
            self._metrics.count(
                "veo_quota_refusals_total", "Requests refused by a quota.", limit=refusal.limit
            )
            raise
        blobs = await self._store.load_media(job_id)
        if len(blobs) < len(previous.request.media()):
            days = self._config.retention_s / 86400
            raise InvalidRequest(
                _(
                    "The images of that video were deleted after {days} days, as all are; "
                    "start a new request with them."
                ).format(days=i18n.number(days))
            )
        # One take again, whichever take of a request for several it was.
        request = previous.request.with_media(blobs).model_copy(update={"seed": None, "count": 1})
        return await self.submit(request, origin)

    async def channel_rule(self, origin: Origin) -> ChannelRule:
        """The rule in force in the origin's channel; raises the private refusal, saying where
        `/veo` works, when the channel is closed to it."""
        rules = ChannelRules.of(
            origin.workspace_key, await self._store.channel_rules(origin.workspace_key)
        )
        if not rules.is_open(origin.channel_id):
            self._metrics.count(
                "veo_channel_refusals_total",
                "Requests refused because their channel is closed to /veo.",
                platform=origin.platform,
            )
            raise UserFacingError(channels.channel_closed(rules), code="channel_closed")
        return rules.for_channel(origin.channel_id)

    async def quota_usage(self, origin: Origin) -> QuotaUsage:
        """What the person and their workspace have used in the current period."""
        period = period_at(self._clock.now())
        return await self._store.quota_usage(origin.user_key, origin.workspace_key, period)

    async def quota_report(self, origin: Origin) -> QuotaReport:
        """What a person sees for `/veo quota`: used, left, when it resets, jobs in flight."""
        now = self._clock.now()
        period = period_at(now)
        usage = await self._store.quota_usage(origin.user_key, origin.workspace_key, period)
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
            spent_today_micro_usd=usage.spent_today_micro_usd,
            daily_limit_micro_usd=limits.user_daily_micro_usd,
            workspace_spent_month_micro_usd=usage.workspace_spent_month_micro_usd,
            workspace_monthly_limit_micro_usd=limits.workspace_monthly_micro_usd,
        )

    async def limits_for(self, origin: Origin) -> QuotaLimits:
        """The limits in force for the person, overrides included."""
        return await self._store.effective_limits(
            origin.user_key, origin.workspace_key, self._config.limits
        )
