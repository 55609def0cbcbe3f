"""Cancel: stop a job wherever it is, and say plainly what it did to the quota.

- Waiting at the bot or not yet sent (`queued`, `pending` without a provider job): cancelled,
  refunded: nothing was spent.
- At the provider (`submitted`, `running`): the provider's cancel call where it has one;
  refunded when the provider confirms it stopped the job, else charged (it may go on and
  bill). Either way nothing is posted.
- Made (`succeeded`, not yet being posted): charged, never posted.
- Being posted (`delivering`): too late. Delivery claims a made video with a compare-and-set
  from `succeeded` to `delivering`, and Cancel moves it only from `succeeded`: whichever comes
  first wins in the store, so a cancelled job never posts a video afterwards.

Every move is a compare-and-set; a Cancel that loses a race looks again, and a second Cancel
(a double click) answers what the first one did.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from bot import texts
from bot.clock import Clock
from bot.errors import DeliveryError, InvalidRequest, ProviderError
from bot.metrics import Metrics
from bot.models import Job, JobState
from bot.outcomes import Outcomes, timed
from bot.ports import ChatSurface, LedgerAction, Store, VideoProvider

log = logging.getLogger(__name__)
# Races lost in a row before giving up (each loss means the job moved on meanwhile).
_TRIES = 4
_NOT_SENT = (JobState.QUEUED, JobState.PENDING)
_AT_PROVIDER = (JobState.SUBMITTED, JobState.RUNNING)


class Cancelling:
    """Cancel, over the store, the providers and the surfaces."""

    def __init__(
        self,
        *,
        store: Store,
        providers: Mapping[str, VideoProvider],
        surfaces: Mapping[str, ChatSurface],
        clock: Clock,
        metrics: Metrics,
        outcomes: Outcomes,
    ) -> None:
        self._store = store
        self._providers = providers
        self._surfaces = surfaces
        self._clock = clock
        self._metrics = metrics
        self._outcomes = outcomes

    async def cancel(self, job_id: str, *, who: str) -> str:
        """Cancel the job for `who` (as the card names them; callers have checked they are
        its requester or an admin) and return what happened, in the words the card shows.
        Raises `InvalidRequest` when there is nothing to cancel or it is too late."""
        for _ in range(_TRIES):
            job = await self._store.get_job(job_id)
            if job is None:
                raise InvalidRequest(texts.no_such_job(job_id))
            if job.state is JobState.CANCELLED:
                return job.error_message or texts.cancelled_refunded(who, job.cost_s)
            if job.state.is_terminal:
                raise InvalidRequest(texts.nothing_to_cancel())
            if job.state is JobState.DELIVERING:
                raise InvalidRequest(texts.too_late_to_cancel())
            done = await self._try(job, who)
            if done is not None:
                await self._tell(done)
                return done.error_message or ""
        raise InvalidRequest(texts.too_late_to_cancel())

    async def _try(self, job: Job, who: str) -> Job | None:
        """One compare-and-set toward `cancelled` from the state the job was read in; None
        when it moved on meanwhile."""
        if job.state in _NOT_SENT and job.provider_job_id is None:
            return await self._end(
                job, _NOT_SENT, LedgerAction.REFUND, "cancelled_refunded",
                texts.cancelled_refunded(who, job.cost_s),
            )  # fmt: skip
        if job.state in _AT_PROVIDER:
            if await self._stop_at_provider(job):
                return await self._end(
                    job, _AT_PROVIDER, LedgerAction.REFUND, "cancelled_refunded",
                    texts.cancelled_refunded(who, job.cost_s),
                )  # fmt: skip
            return await self._end(
                job, _AT_PROVIDER, LedgerAction.SETTLE, "cancelled_charged",
                texts.cancelled_charged(who, job.cost_s),
            )  # fmt: skip
        return await self._end(
            job, (JobState.SUCCEEDED,), LedgerAction.SETTLE, "cancelled_charged",
            texts.cancelled_after_made(who, job.cost_s),
        )  # fmt: skip

    async def _stop_at_provider(self, job: Job) -> bool:
        """The provider's cancel call; True only when it confirmed the job stopped."""
        provider = self._providers.get(job.provider)
        if provider is None or job.provider_job_id is None:
            return False
        try:
            return await timed(
                self._metrics, job.provider, "cancel", provider.cancel(job.provider_job_id)
            )
        except ProviderError as err:
            log.warning("job %s: the provider did not cancel it: %s", job.id, err)
            return False

    async def _end(
        self,
        job: Job,
        from_states: tuple[JobState, ...],
        ledger: LedgerAction,
        code: str,
        message: str,
    ) -> Job | None:
        return await self._store.transition(
            job.id,
            from_states,
            JobState.CANCELLED,
            now=self._clock.now(),
            ledger=ledger,
            error_code=code,
            error_message=message,
        )

    async def _tell(self, done: Job) -> None:
        """Say it on the card, and to whoever waits for the job."""
        log.info("job %s cancelled (%s)", done.id, done.error_code)
        self._metrics.count(
            "veo_jobs_cancelled_total",
            "Jobs cancelled by their requester or an admin, by outcome (issue 18).",
            outcome=done.error_code or "",
        )
        surface = self._surfaces.get(done.origin.platform)
        if surface is not None and done.origin.refs:
            try:
                await surface.report_failure(done, done.error_message or "")
            except DeliveryError as err:
                log.warning("job %s: could not show the cancellation: %s", done.id, err)
        self._outcomes.settled(done)
