"""When each job is asked about next, within its provider's request budget.

The interval follows the model's observed completion times (`adaptive_delay`): the first poll
near the fastest recent job of that model, then polls at its completion-time quantiles, so
that each poll has about the same chance of finding the video done; none further apart than
`cap_s`. With no history, the provider's (or the operator's) poll interval. A job whose
provider calls back is polled only as a safety net, every `webhook_poll_interval_s`. Every
next poll is booked into its provider's status budget (`bot.budget`). When more jobs are due
than the budget lets go, those closest to their likely completion go first (`likely_done_at`).
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
from collections.abc import Sequence

from bot.budget import Budgets, Kind
from bot.clock import Clock
from bot.config import ServiceConfig
from bot.errors import ProviderError, ProviderRateLimited
from bot.links import MediaLinks
from bot.metrics import Metrics
from bot.models import Job, ProviderStatus
from bot.outcomes import timed
from bot.ports import ListsRunningJobs, SharesBudgets, Store, VideoProvider

log = logging.getLogger(__name__)

QUANTILES = 20  # polls spread over the distribution: one per 5 % of completions
CAP_S = 30.0  # never longer between two polls of a job, however slow its model
HISTORY = 50  # recent completions per model the intervals follow
HISTORY_TTL_S = 300.0  # how long a model's history is used before it is read again
MIN_HISTORY = 5  # fewer completions than this are no distribution: the interval stays fixed
# Past the slowest completion seen, the next poll comes after this share of the time the job
# has run (between the floor and the cap): a straggler is noticed within a quarter of its age.
STRAGGLER_SHARE = 0.25
# Buckets of the "done at the provider" to "noticed" histogram, in seconds.
NOTICE_BUCKETS_S = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


def quantile_points(durations: Sequence[float], steps: int = QUANTILES) -> list[float]:
    """The completion-time quantiles 0, 1/steps, ..., 1 of `durations` (nearest rank)."""
    ordered = sorted(d for d in durations if math.isfinite(d) and d >= 0)
    if not ordered:
        return []
    last = len(ordered) - 1
    return sorted({ordered[round(last * i / steps)] for i in range(steps + 1)})


def adaptive_delay(
    elapsed_s: float, points: Sequence[float], *, floor_s: float, cap_s: float
) -> float | None:
    """Seconds until the next poll of a job submitted `elapsed_s` ago, given its model's
    completion-time quantiles `points` (sorted): the fastest completion first, then the next
    quantile still ahead, at least `floor_s` and at most `cap_s` away; once past the slowest,
    a `STRAGGLER_SHARE` of the time run so far, within the same bounds. None without history."""
    if not points:
        return None
    index = bisect.bisect_right(points, elapsed_s + floor_s / 2)
    if index == 0:  # nothing of this model was done this soon: wait for the fastest
        return max(points[0] - elapsed_s, floor_s)
    if index >= len(points):
        return min(max(STRAGGLER_SHARE * elapsed_s, floor_s), max(floor_s, cap_s))
    return min(max(points[index] - elapsed_s, floor_s), max(floor_s, cap_s))


def likely_done_at(created_at: float, now: float, points: Sequence[float]) -> float | None:
    """When a job submitted at `created_at` and not done at `now` will likely be done: the
    median of its model's completion-time quantiles `points` still ahead of it; `now` once past
    them all (it may be done any moment). None without history."""
    if not points:
        return None
    ahead = [point for point in points if point > now - created_at]
    if not ahead:
        return now
    return created_at + ahead[len(ahead) // 2]


class _Listing:
    """A provider's last listing of its running jobs, and the read under way, if any."""

    def __init__(self) -> None:
        self.read_at = -math.inf
        self.ids: frozenset[str] = frozenset()
        self.reading: asyncio.Task[None] | None = None


class Polling:
    """Decides each job's next poll and spends its provider's budget for each call."""

    def __init__(
        self,
        *,
        store: Store,
        config: ServiceConfig,
        clock: Clock,
        metrics: Metrics,
        links: MediaLinks | None,
        cap_s: float = CAP_S,
    ) -> None:
        self._store = store
        self._config = config
        self._clock = clock
        self._metrics = metrics
        self._links = links
        self.cap_s = cap_s
        self.budgets = Budgets(
            config.budgets, shared=store if isinstance(store, SharesBudgets) else None
        )
        # The model's completion-time quantiles, and when they were read.
        self._history: dict[str, tuple[float, list[float]]] = {}
        self._listings: dict[str, _Listing] = {}

    def interval_s(self, provider: VideoProvider) -> float:
        """The provider's own poll interval, else the operator's."""
        return provider.poll_interval_s or self._config.poll_interval_s

    async def points(self, model: str) -> list[float]:
        """The model's completion-time quantiles, read at most every `HISTORY_TTL_S`."""
        now = self._clock.now()
        cached = self._history.get(model)
        if cached is not None and now - cached[0] < HISTORY_TTL_S:
            return cached[1]
        points: list[float] = []
        try:
            durations = await self._store.recent_durations(model, HISTORY)
            if len(durations) >= MIN_HISTORY:
                points = quantile_points(durations)
        except Exception:
            log.exception("could not read the completion times of %s", model)
        self._history[model] = (now, points)
        return points

    async def next_poll_at(self, job: Job, provider: VideoProvider, now: float) -> float:
        """When to read the job's status next, booked into its provider's status budget."""
        floor = self.interval_s(provider)
        safety_net = self._config.webhook_poll_interval_s
        if (
            safety_net is not None
            and getattr(provider, "calls_back", False)
            and self._links is not None
            and self._links.callback_url(job) is not None
        ):
            interval = max(floor, safety_net)
        else:
            delay = adaptive_delay(
                now - job.created_at, await self.points(job.model), floor_s=floor, cap_s=self.cap_s
            )
            interval = floor if delay is None else delay
        return self.budgets.book(job.provider, "status", now, now + interval)

    async def likely_done_at(self, job: Job, now: float) -> float | None:
        """When the job, not done at `now`, will likely be done at its provider (see
        `likely_done_at`): due jobs are claimed closest to it first, so that when the status
        budget is short the polls go to the jobs most likely to find their video done."""
        return likely_done_at(job.created_at, now, await self.points(job.model))

    async def over_budget(self, job: Job, kind: Kind, now: float) -> bool:
        """Spend one request of the job's provider; when its budget has none free now, make
        the job due in the first free slot instead, and say so (True)."""
        wait = await self.budgets.take(job.provider, kind, now)
        if wait <= 0:
            return False
        due_at = min(self.budgets.book(job.provider, kind, now, now + wait), job.deadline_at)
        self._metrics.count(
            "veo_budget_deferred_total",
            "Provider calls put off because the provider's request budget was spent.",
            provider=job.provider,
            kind=kind,
        )
        await self._store.update(job.id, version=job.version, now=now, due_at=due_at)
        return True

    async def listed_running(self, job: Job, provider: VideoProvider, now: float) -> bool:
        """Whether the provider's listing of its running jobs shows this one still running:
        one status call (from the budget) serves every job polled within a poll interval.
        False when the provider has no such listing, the listing cannot be read or is too
        old, or the job is not on it (then the job is read on its own)."""
        if not isinstance(provider, ListsRunningJobs) or job.provider_job_id is None:
            return False
        listing = self._listings.setdefault(job.provider, _Listing())
        # Read again after a poll interval, and never on more than half the status budget:
        # the jobs the listing no longer shows are read on their own from the other half.
        pacer = self.budgets.pacer(job.provider, "status")
        fresh_s = max(self.interval_s(provider), 2 * pacer.spacing_s(now) if pacer else 0.0)
        stale = now - listing.read_at >= fresh_s and listing.reading is None
        if stale and await self.budgets.take(job.provider, "status", now) == 0:
            listing.reading = asyncio.create_task(self._read_listing(job, provider, listing))
        if listing.reading is not None:
            await asyncio.shield(listing.reading)
        if self._clock.now() - listing.read_at >= 2 * fresh_s:
            return False
        return job.provider_job_id in listing.ids

    async def _read_listing(self, job: Job, provider: ListsRunningJobs, into: _Listing) -> None:
        try:
            at = self._clock.now()
            into.ids = await timed(self._metrics, job.provider, "list", provider.running_jobs())
            into.read_at = at
        except ProviderError as err:
            await self.throttled(job, "status", err)
            log.warning("could not list the running jobs of %s: %s", job.provider, err)
        finally:
            into.reading = None

    def noticed(self, job: Job, status: ProviderStatus, now: float) -> None:
        """A poll found the job done: how long after the provider finished it, as the
        provider says, else half the time since the job's last change (the poll before)."""
        if status.finished_at is not None:
            delay = max(0.0, now - status.finished_at)
        else:
            delay = max(0.0, now - job.updated_at) / 2
        self._metrics.observe(
            "veo_notice_delay_seconds",
            "Seconds from a video done at its provider to the bot noticing it "
            "(estimated from the polls where the provider does not say when it finished).",
            delay,
            buckets=NOTICE_BUCKETS_S,
            provider=job.provider,
        )

    async def throttled(self, job: Job, kind: Kind, err: ProviderError) -> None:
        """A call failed: a 429 shrinks the provider's budget and holds it for Retry-After."""
        if isinstance(err, ProviderRateLimited):
            await self.budgets.throttled(job.provider, kind, self._clock.now(), err.retry_after)
