"""How a step ends, whichever step it is: the job failed (its quota refunded and the person
told), or it is tried again later (backoff with jitter, a provider's Retry-After honoured), or
it settled; and whoever waits for the job hears of it. Also how a provider call is measured."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Literal, TypeVar

from bot import i18n
from bot.clock import Clock
from bot.config import ServiceConfig
from bot.errors import DeliveryError, ProviderError, ProviderRateLimited
from bot.i18n import _
from bot.metrics import Metrics
from bot.models import Job, JobState
from bot.ports import ChatSurface, LedgerAction, Store
from bot.retry_after import capped
from bot.variants import grouped

log = logging.getLogger(__name__)
T = TypeVar("T")
# The job's counters of what went wrong, each with its own backoff and limit: submits tried,
# provider readings that failed, deliveries that failed.
FailureCounter = Literal["submit_attempts", "poll_failures", "delivery_failures"]


def failures(job: Job, counter: FailureCounter) -> int:
    """What `counter` stands at for `job`."""
    if counter == "submit_attempts":
        return job.submit_attempts
    return job.poll_failures if counter == "poll_failures" else job.delivery_failures


def backoff_s(failures: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter in [delay/2, delay]."""
    delay = min(cap, base * float(2 ** max(0, failures - 1)))
    return delay * (0.5 + rng.random() / 2)


def may_retry(err: ProviderError, attempts: int, limit: int) -> bool:
    """Whether to ask the provider again. A rate limit is waited out however often it
    comes, as it says when to come back: the job's wall-clock deadline bounds it (this is
    only for submits and polls, which that deadline covers). Other errors: `limit` tries."""
    return err.retryable and (isinstance(err, ProviderRateLimited) or attempts < limit)


async def timed(metrics: Metrics, provider: str, operation: str, call: Awaitable[T]) -> T:
    """Await a provider call, recording its latency and outcome."""
    start = time.perf_counter()
    outcome = "ok"
    try:
        return await call
    except ProviderError as err:
        outcome = err.code
        raise
    finally:
        metrics.observe(
            "veo_provider_call_seconds",
            "Latency of calls to video providers.",
            time.perf_counter() - start,
            provider=provider,
            operation=operation,
        )
        metrics.count(
            "veo_provider_calls_total",
            "Calls to video providers by outcome.",
            provider=provider,
            operation=operation,
            outcome=outcome,
        )


class Outcomes:
    """The endings every step shares, over the store, and the people waiting for them."""

    def __init__(
        self,
        *,
        store: Store,
        surfaces: Mapping[str, ChatSurface],
        config: ServiceConfig,
        clock: Clock,
        metrics: Metrics,
        rng: random.Random,
    ) -> None:
        self._store = store
        self._surfaces = surfaces
        self._config = config
        self._clock = clock
        self._metrics = metrics
        self._rng = rng
        self._waiters: dict[str, list[asyncio.Future[Job]]] = {}
        self._forgetters: list[Callable[[str], None]] = []
        self._failure_hooks: list[Callable[[Job], Awaitable[None]]] = []

    def on_settled(self, forget: Callable[[str], None]) -> None:
        """Have `forget(job_id)` called when a job settles (to drop what is kept per job)."""
        self._forgetters.append(forget)

    def on_failed(self, hook: Callable[[Job], Awaitable[None]]) -> None:
        """Have `hook(job)` awaited when a job fails, times out or is cancelled (a take of a
        group: its siblings' card may now be complete, `bot.group_delivery`)."""
        self._failure_hooks.append(hook)

    @contextlib.contextmanager
    def watching(self, job_id: str) -> Iterator[asyncio.Future[Job]]:
        """A future that `settled` resolves with the job, for as long as the block runs."""
        future: asyncio.Future[Job] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(job_id, []).append(future)
        try:
            yield future
        finally:
            waiters = self._waiters.get(job_id, [])
            if future in waiters:
                waiters.remove(future)
            if not waiters:
                self._waiters.pop(job_id, None)

    def watched(self, job_id: str) -> bool:
        """Whether someone waits for this job."""
        return bool(self._waiters.get(job_id))

    def settled(self, job: Job) -> None:
        """The job has ended and said so where it came from: tell whoever waits."""
        for forget in self._forgetters:
            forget(job.id)
        for future in self._waiters.get(job.id, []):
            if not future.done():
                future.set_result(job)

    async def fail(self, job: Job, state: JobState, *, code: str, message: str) -> None:
        """End the job unsuccessfully, refund its quota and tell the person why."""
        done = await self._store.transition(
            job.id,
            (job.state,),
            state,
            now=self._clock.now(),
            ledger=LedgerAction.REFUND,
            error_code=code,
            error_message=message,
        )
        if done is None:
            return
        log.info("job %s %s (%s)", job.id, state, code)
        self._metrics.count(
            "veo_jobs_ended_unsuccessfully_total",
            "Jobs failed, timed out or cancelled.",
            state=state.value,
            code=code,
        )
        surface = self._surfaces.get(job.origin.platform)
        # A take of a group is reported on the group's one card (`bot.group_delivery`).
        if surface is not None and not grouped(job):
            try:
                await surface.report_failure(
                    done,
                    _("{message} The {seconds} it would have used were not charged.").format(
                        message=message, seconds=i18n.seconds(job.cost_s)
                    ),
                )
            except DeliveryError as err:
                log.warning("job %s: could not report the failure: %s", job.id, err)
        self.settled(done)
        for hook in self._failure_hooks:
            await hook(done)

    async def after_failure(self, job: Job, *, code: str, message: str) -> None:
        """After a step went wrong unexpectedly: try again later, or fail once too many did
        (counted as failed deliveries once the video is made, else as failed polls)."""
        current = await self._store.get_job(job.id)
        if current is None or current.state.is_terminal:
            return
        delivering = current.state in (JobState.SUCCEEDED, JobState.DELIVERING)
        counter: FailureCounter = "delivery_failures" if delivering else "poll_failures"
        if failures(current, counter) >= self._config.max_failures:
            await self.fail(current, JobState.FAILED, code=code, message=message)
        else:
            await self.retry_later(current, None, counter=counter)

    async def retry_later(
        self, job: Job, err: Exception | None, *, counter: FailureCounter
    ) -> None:
        """Make the job due again after a backoff that grows with `counter`, and count one
        more failure there (submits count their attempts when they start them)."""
        so_far = failures(job, counter)
        delay = backoff_s(
            so_far + 1,
            base=self._config.poll_interval_s,
            cap=self._config.backoff_cap_s,
            rng=self._rng,
        )
        if isinstance(err, ProviderRateLimited | DeliveryError):
            delay = max(delay, capped(err.retry_after) or 0.0)
        due_at = self._clock.now() + delay
        if job.state in (JobState.PENDING, JobState.SUBMITTED, JobState.RUNNING):
            # Never asleep past the deadline (`advance` times these states out when it comes).
            due_at = min(due_at, job.deadline_at)
        changes: dict[str, object] = {"due_at": due_at}
        if counter != "submit_attempts":
            changes[counter] = so_far + 1
        if err is not None:
            changes["error_code"] = getattr(err, "code", "delivery_retry")
        log.warning("job %s: will retry in %.1fs after %s", job.id, delay, err)
        await self._store.update(job.id, version=job.version, now=self._clock.now(), **changes)
