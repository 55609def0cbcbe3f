"""The one card of a request for several takes made as jobs of their own (`bot.variants`).

Each take's delivery fetches its video like any other (the bot's own copy, shared through the
store so that any replica can post it), then parks: it stays `delivering`, due never, until
its group is complete, every take either parked so or ended unsuccessfully (refunded). The
step that completes the group posts it, once: it claims the lowest parked take (a version
check, so two workers cannot both), looks for a card a crash left unrecorded, fits every
video to the destination (or keeps it behind a link), posts one message with all of them, and
then records every parked take delivered and settles it. A take found delivered means the
card is up: the others are recorded with it. A claim cut short runs out (its lease), making
that take due again, and its delivery completes the group anew.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from pathlib import Path

from bot.clock import Clock
from bot.config import ServiceConfig
from bot.errors import DeliveryError
from bot.i18n import _
from bot.job_files import JobFiles
from bot.metrics import Metrics
from bot.models import Job, JobState, ResultLink
from bot.outcomes import Outcomes
from bot.ports import ChatSurface, LedgerAction, PostsTakes, Store
from bot.refs import Refs
from bot.relay import CannotFit
from bot.samples import carrier, rider
from bot.shared_files import fetch_file, own_copy_name, put_file
from bot.variants import TakeVideo, grouped, none_of_the_takes

log = logging.getLogger(__name__)

Fit = Callable[[Job, Path, Path, int], Awaitable[int]]
KeepForLink = Callable[[Job, Path, CannotFit], Awaitable[ResultLink]]


def parked(job: Job) -> bool:
    """A take whose video is fetched and which waits for its group."""
    return job.state is JobState.DELIVERING and job.due_at is None and bool(job.downloaded_bytes)


class GroupDelivery:
    """Parks the takes of a group as they finish and posts the group when it is complete."""

    def __init__(
        self,
        *,
        store: Store,
        surfaces: Mapping[str, ChatSurface],
        config: ServiceConfig,
        clock: Clock,
        metrics: Metrics,
        outcomes: Outcomes,
        files: JobFiles,
        fit: Fit,
        keep_for_link: KeepForLink,
        notice: Callable[[Job], Awaitable[str | None]],
    ) -> None:
        self._store = store
        self._surfaces = surfaces
        self._config = config
        self._clock = clock
        self._metrics = metrics
        self._outcomes = outcomes
        self._files = files
        self._fit = fit
        self._keep_for_link = keep_for_link
        self._notice = notice
        outcomes.on_failed(self.take_ended)

    async def park(self, job: Job) -> None:
        """The take's video is held: share it, wait for the group, and post the group when
        this take completes it."""
        own = self._files.own_copy(job.id)
        await put_file(self._store, own_copy_name(job.id), own, now=self._clock.now())
        waiting = await self._store.update(
            job.id, version=job.version, now=self._clock.now(), due_at=None
        )
        if waiting is None:
            log.warning("job %s: taken over by another worker before it could wait", job.id)
            return
        log.info("job %s: take %d ready, waiting for group %s", job.id, job.take, job.group_id)
        await self.deliver_if_complete(job)

    async def take_ended(self, job: Job) -> None:
        """A take failed, timed out or was cancelled (refunded): its group may be complete.
        When it was to make the others too (`bot.samples`) and never reached the provider,
        those fail with it."""
        if carrier(job) and job.provider_job_id is None and job.group_id is not None:
            for take in await self._store.group_jobs(job.group_id):
                if rider(take) and take.state is JobState.PENDING:
                    message = job.error_message or _("The video provider could not make it.")
                    await self._outcomes.fail(
                        take, JobState.FAILED, code=job.error_code or "failed", message=message
                    )
        if grouped(job):
            await self.deliver_if_complete(job)

    async def deliver_if_complete(self, job: Job) -> None:
        """Post the group of `job` when every take has ended or waits; otherwise nothing."""
        assert job.group_id is not None
        takes = await self._store.group_jobs(job.group_id)
        if not all(take.state.is_terminal or parked(take) for take in takes):
            return
        waiting = [take for take in takes if parked(take)]
        failed = [take for take in takes if take.state.is_terminal and not _delivered(take)]
        posted = next((take for take in takes if _delivered(take)), None)
        if posted is not None and posted.delivery_refs is not None:
            # The card is up (a run stopped while recording it): record the rest with it.
            for take in waiting:
                await self._record(take, posted.delivery_refs)
            return
        if not waiting:
            await self._nothing_made(takes)
            return
        # Every take answers on the first take's card and in its thread.
        origin = takes[0].origin
        await self._post(
            [replace(take, origin=origin) for take in waiting],
            [replace(take, origin=origin) for take in failed],
        )

    async def _post(self, waiting: list[Job], failed: list[Job]) -> None:
        first = waiting[0]
        surface = self._surfaces[first.origin.platform]
        now = self._clock.now()
        # The claim: one worker posts; should it stop, the lease runs out and the take's
        # delivery comes back here.
        claimed = await self._store.update(
            first.id, version=first.version, now=now, due_at=now + self._config.lease_s
        )
        if claimed is None:
            return  # another worker claimed the group
        try:
            found = await surface.find_delivery(replace(claimed, origin=first.origin))
        except DeliveryError as err:
            log.warning("group %s: cannot look for an earlier post: %s", first.group_id, err)
            found = None
        if found is not None:
            log.info("group %s: card already posted, recording it", first.group_id)
            for take in waiting:
                await self._record(take, found)
            return
        work = await asyncio.to_thread(self._files.new_scratch, first.id)
        try:
            videos = [await self._ready(take, work) for take in waiting]
            notice = await self._notice(first)
            if isinstance(surface, PostsTakes):
                refs = await surface.deliver_takes(videos, failed=failed, notice=notice)
            else:
                refs = [await _post_alone(surface, video, notice) for video in videos]
        except DeliveryError as err:
            if err.retryable and claimed.delivery_failures < self._config.max_failures:
                await self._outcomes.retry_later(claimed, err, counter="delivery_failures")
            else:
                # Nothing left to try: each take is refused as a video made but not posted.
                log.warning("group %s: cannot be posted: %s", first.group_id, err)
                message = err.user_message or _(
                    "The videos were made but could not be posted here."
                )
                for take in waiting:
                    current = await self._store.get_job(take.id)
                    if current is not None:
                        await self._end_unposted(current, message)
            return
        finally:
            await asyncio.to_thread(shutil.rmtree, work, ignore_errors=True)
        log.info("group %s: %d takes posted on one card", first.group_id, len(waiting))
        self._metrics.count(
            "veo_take_groups_delivered_total",
            "Requests for several takes posted as one card (issue 18).",
            platform=first.origin.platform,
        )
        for take, take_refs in zip(waiting, refs, strict=True):
            await self._record(take, take_refs)

    async def _ready(self, take: Job, work: Path) -> TakeVideo:
        """The take's video as it goes on the card: the bot's copy (or the one shared by the
        worker that fetched it), re-encoded to fit, or kept behind a link."""
        video = self._files.own_copy(take.id)
        size = await asyncio.to_thread(self._files.own_copy_size, take.id)
        if size is None or size != take.downloaded_bytes:
            video = work / f"{take.id}.mp4"
            size = await fetch_file(self._store, own_copy_name(take.id), video)
            if size is None:
                raise DeliveryError(f"take {take.id}: its video is no longer held")
        limit = self._surfaces[take.origin.platform].upload_limit_bytes(take)
        if limit is None or size <= limit:
            return TakeVideo(take, video)
        fitted = work / f"{take.id}-fitted.mp4"
        try:
            await self._fit(take, video, fitted, limit)
        except CannotFit as exc:
            return TakeVideo(take, None, await self._keep_for_link(take, video, exc))
        return TakeVideo(take, fitted)

    async def _record(self, take: Job, refs: Refs) -> None:
        done = await self._store.transition(
            take.id,
            (JobState.DELIVERING,),
            JobState.DELIVERED,
            now=self._clock.now(),
            ledger=LedgerAction.SETTLE,
            delivery_refs=refs,
            progress=100,
            due_at=None,
        )
        await self._store.delete_blobs([own_copy_name(take.id)])
        if done is not None:
            self._metrics.count(
                "veo_deliveries_total", "Videos posted.", platform=take.origin.platform
            )
            self._outcomes.settled(done)

    async def _end_unposted(self, take: Job, message: str) -> None:
        done = await self._store.transition(
            take.id,
            (JobState.DELIVERING,),
            JobState.FAILED,
            now=self._clock.now(),
            ledger=LedgerAction.SETTLE,
            error_code="undelivered",
            error_message=message,
        )
        if done is not None:
            self._outcomes.settled(done)

    async def _nothing_made(self, takes: list[Job]) -> None:
        """Every take failed: say so once on the first take's card (each was refunded)."""
        first = takes[0]
        surface = self._surfaces[first.origin.platform]
        refunded = sum(take.cost_s for take in takes)
        try:
            await surface.report_failure(first, none_of_the_takes(len(takes), refunded))
        except DeliveryError as err:
            log.warning("group %s: could not report the failure: %s", first.group_id, err)


def _delivered(job: Job) -> bool:
    return job.state is JobState.DELIVERED


async def _post_alone(surface: ChatSurface, take: TakeVideo, notice: str | None) -> Refs:
    """One take as a video of its own, on a surface that cannot post several at once."""
    if take.video is not None:
        return await surface.deliver(take.job, take.video, notice=notice)
    assert take.link is not None
    return await surface.deliver_link(take.job, take.link, notice=notice)
