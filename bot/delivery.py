"""Delivery: a finished video from the provider to the place it was asked for, once.

The video is downloaded (bounded) into a scratch folder of this run's own, re-encoded when it
is larger than the destination takes, kept behind a signed link when even that fails, and
posted; the quota is then settled. A delivery that goes wrong is tried again later, and one
the destination refuses for good goes to the requester privately: the video was made and
paid for, so the quota stays spent and the file stays on disk for `veo-bot jobs`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import threading
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TypeVar

from bot import i18n
from bot.clock import Clock
from bot.config import ServiceConfig
from bot.errors import DeliveryError, ProviderError, ProviderJobNotFound
from bot.group_delivery import GroupDelivery
from bot.i18n import _
from bot.job_files import JobFiles
from bot.links import MediaLinks
from bot.metrics import Metrics
from bot.models import (
    Job,
    JobState,
    Origin,
    ProviderJobState,
    ProviderStatus,
    QuotaReport,
    ResultLink,
)
from bot.outcomes import Outcomes, timed
from bot.ports import ChatSurface, LedgerAction, Store, VideoProvider
from bot.refs import Refs, load_refs
from bot.relay import CannotFit, download_to_file, fit_to_limit
from bot.shared_files import fetch_file, kept_name, own_copy_name, put_file
from bot.variants import grouped

log = logging.getLogger(__name__)
T = TypeVar("T")

# Error codes of a video made (and charged) but refused where it was asked for.
UNDELIVERABLE_SENT_PRIVATELY = "sent_privately"  # delivered to the requester alone instead
UNDELIVERED = "undelivered"  # not even that: only on disk, see `veo-bot jobs`


class Delivery:
    """Takes a job from `succeeded` (or an interrupted `delivering`) to `delivered`."""

    def __init__(
        self,
        *,
        store: Store,
        providers: Mapping[str, VideoProvider],
        surfaces: Mapping[str, ChatSurface],
        config: ServiceConfig,
        clock: Clock,
        metrics: Metrics,
        outcomes: Outcomes,
        files: JobFiles,
        links: MediaLinks | None,
        quota_report: Callable[[Origin], Awaitable[QuotaReport]],
    ) -> None:
        self._store = store
        self._providers = providers
        self._surfaces = surfaces
        self._config = config
        self._clock = clock
        self._metrics = metrics
        self._outcomes = outcomes
        self._files = files
        # Signs the links to videos too large to upload even re-encoded; None: no links.
        self._links = links
        self._quota_report = quota_report
        # The bot's copy of a video goes once its job has ended, however it ended.
        outcomes.on_settled(files.drop_own_copy)
        self._groups = GroupDelivery(
            store=store,
            surfaces=surfaces,
            config=config,
            clock=clock,
            metrics=metrics,
            outcomes=outcomes,
            files=files,
            fit=self._fit,
            keep_for_link=self._keep_for_link,
            notice=self._remaining_notice,
        )

    async def deliver(self, job: Job, status: ProviderStatus | None = None) -> None:
        """Deliver a job the provider has finished (`succeeded`), or take up one whose
        delivery was cut short (`delivering`): fetch, fit, post, settle; or retry, or end it.
        `status` is the reading that said it succeeded, when there is a fresh one."""
        surface = self._surfaces[job.origin.platform]
        if job.state is JobState.SUCCEEDED:
            claimed = await self._store.transition(
                job.id,
                (JobState.SUCCEEDED,),
                JobState.DELIVERING,
                now=self._clock.now(),
                due_at=self._clock.now() + self._config.lease_s,
                leased_by=self._config.worker_id,  # this worker's while it delivers
            )
            if claimed is None:
                return  # another path is delivering it
            job = claimed
        else:
            # Back in `delivering` after a crash or a failed try: the video may already be up.
            try:
                found = await surface.find_delivery(job)
            except DeliveryError as err:
                if err.retryable and job.delivery_failures < self._config.max_failures:
                    await self._outcomes.retry_later(job, err, counter="delivery_failures")
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
        work = await asyncio.to_thread(self._files.new_scratch, job.id)
        video = self._files.own_copy(job.id)  # what is posted: the bot's copy, or a re-encode
        held = False  # whether the video is on disk: from then on the provider's work is kept
        link: ResultLink | None = None
        deadline = asyncio.timeout(self._config.delivery_timeout_s)
        try:
            async with deadline:
                size, job = await self._hold(job, status, work)
                held = True
                take_of_group = grouped(job)
                limit = None if take_of_group else surface.upload_limit_bytes(job)
                if limit is not None and size > limit:
                    try:
                        size = await self._fit(job, video, work / "fitted.mp4", limit)
                        video = work / "fitted.mp4"
                    except CannotFit as exc:
                        link = await self._keep_for_link(job, video, exc)
                if not await self._still_ours(job):
                    return
                # A take of a group waits for the others (refs None), posted on one card.
                refs = None if take_of_group else await self._post(job, surface, video, link)
        except TimeoutError:
            if not deadline.expired():
                raise
            seconds = f"{self._config.delivery_timeout_s:g}"
            log.warning("job %s: delivery abandoned after %s s", job.id, seconds)
            late = DeliveryError(
                f"delivery took longer than {seconds} s",
                user_message=(
                    _("Posting the video took too long.")
                    if held
                    else _("The video was made, but fetching it from the provider took too long.")
                ),
            )
            await self._delivery_failed(job, late, video if held else None, link)
            return
        except (ProviderError, DeliveryError) as err:
            await self._delivery_failed(job, err, video if held else None, link)
            return
        finally:
            await asyncio.to_thread(shutil.rmtree, work, ignore_errors=True)
        if refs is None:
            await self._groups.park(job)
            return
        if job.delivery_failures:  # a failed run stored its copy; the post is up now
            await self._store.delete_blobs([own_copy_name(job.id)])
        await self._finish(job, refs, result_bytes=size)

    async def _post(
        self, job: Job, surface: ChatSurface, video: Path, link: ResultLink | None
    ) -> Refs:
        """Post the video (or its link) where it goes: the requester alone for a private job."""
        notice = await self._remaining_notice(job)
        if job.request.private:  # to the requester alone, never into the thread
            if link is None:  # kept, for its requester to share from their history
                older = self._clock.now() - self._config.result_link_ttl_s
                await asyncio.to_thread(self._files.keep, video, job.id, older_than=older)
            return await surface.deliver_privately(job, video, link=link, notice=notice)
        if link is None:
            return await surface.deliver(job, video, notice=notice)
        refs = await surface.deliver_link(job, link, notice=notice)
        return refs.model_copy(update={"link_expires_at": int(link.expires_at)})

    async def _hold(self, job: Job, status: ProviderStatus | None, work: Path) -> tuple[int, Job]:
        """Make sure the bot holds its own copy of the provider's video (`JobFiles.own_copy`):
        the one an earlier run downloaded when it is there, complete (its size as recorded),
        else a download, into this run's folder and then moved into place whole. A delivery
        that has to wait (the platform down, retries) thus never needs the provider's URL
        again, which some providers delete within the hour (Replicate). The size and the job
        as it now is."""
        kept = await asyncio.to_thread(self._files.own_copy_size, job.id)
        if kept is not None and kept == job.downloaded_bytes:
            log.info("job %s: posting the copy downloaded earlier", job.id)
            return kept, job
        downloaded = work / "video.mp4"
        shared = await fetch_file(self._store, own_copy_name(job.id), downloaded)
        if shared is not None and shared == job.downloaded_bytes:
            log.info("job %s: posting the copy a process stored when its delivery failed", job.id)
            await asyncio.to_thread(self._files.hold, downloaded, job.id)
            return shared, job
        size = await self._fetch_result(job, status, downloaded)
        await asyncio.to_thread(self._files.hold, downloaded, job.id)
        recorded = await self._store.update(
            job.id, version=job.version, now=self._clock.now(), downloaded_bytes=size
        )
        return size, recorded or job  # None: another worker took over (`_still_ours` says so)

    async def _delivery_failed(
        self,
        job: Job,
        err: ProviderError | DeliveryError,
        video: Path | None,
        link: ResultLink | None,
    ) -> None:
        """After a delivery that went wrong: try again later, or end the job. `video` is the
        result on disk when it was fetched (None: it never was)."""
        if err.retryable and job.delivery_failures < self._config.max_failures:
            if video is not None:  # whichever replica tries again posts this copy
                own = self._files.own_copy(job.id)
                await put_file(self._store, own_copy_name(job.id), own, now=self._clock.now())
            await self._outcomes.retry_later(job, err, counter="delivery_failures")
        elif video is not None and isinstance(err, DeliveryError):
            await self._undeliverable(job, video, link, err)
        else:
            # The provider never handed the video over: nothing anyone could watch.
            message = err.user_message or _("The video was made but could not be posted here.")
            await self._outcomes.fail(job, JobState.FAILED, code="delivery_failed", message=message)

    async def _still_ours(self, job: Job) -> bool:
        """Whether this run may post: no other worker finished or took over the job while this
        one fetched the video (its lease can run out under a worker that stalls)."""
        current = await self._store.get_job(job.id)
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
        surface = self._surfaces[job.origin.platform]
        # A link's video is there already.
        kept = await asyncio.to_thread(self._files.move_into_kept, video, job.id)
        log.warning("job %s: cannot be posted where it was asked for (%s)", job.id, why)
        try:
            refs: Refs | None = await surface.deliver_privately(
                job, kept, link=link, notice=await self._remaining_notice(job)
            )
        except DeliveryError as err:
            log.warning("job %s: could not be sent privately either: %s", job.id, err)
            refs = None
        if refs is not None:
            outcome = "sent_privately"
            done = await self._store.transition(
                job.id,
                (JobState.DELIVERING,),
                JobState.DELIVERED,
                now=self._clock.now(),
                ledger=LedgerAction.SETTLE,
                delivery_refs=refs.model_copy(update={"path": str(kept)}),
                progress=100,
                error_code=UNDELIVERABLE_SENT_PRIVATELY,
                error_message=why.user_message,
            )
        else:
            outcome = "kept"
            refused = why.user_message or _("The video was made, but it could not be posted here.")
            message = _(
                "{refused} It could not be sent to you directly either. Its {seconds} count, as "
                "the provider made it; an admin can hand it over (job {job})."
            ).format(refused=refused, seconds=i18n.seconds(job.cost_s), job=job.id)
            done = await self._store.transition(
                job.id,
                (JobState.DELIVERING,),
                JobState.FAILED,
                now=self._clock.now(),
                ledger=LedgerAction.SETTLE,
                delivery_refs=load_refs(job.origin.platform, {"path": str(kept)}),
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
        self._metrics.count(
            "veo_undeliverable_total",
            "Videos made but refused where they were asked for (charged, kept on disk).",
            platform=job.origin.platform,
            outcome=outcome,
        )
        self._outcomes.settled(done)

    async def _fit(self, job: Job, path: Path, fitted: Path, limit: int) -> int:
        """Re-encode the video into `fitted` (the bot's copy stays as it came) so that it fits
        the destination's upload limit; `CannotFit` when no encoding does."""
        stop = threading.Event()
        try:
            size = await _in_worker(stop, lambda: fit_to_limit(path, fitted, limit, stop=stop))
        except CannotFit as exc:
            log.warning("job %s: %s", job.id, exc)
            await asyncio.to_thread(fitted.unlink, missing_ok=True)
            raise
        log.info("job %s: re-encoded to %d bytes to fit %d", job.id, size, limit)
        self._metrics.count(
            "veo_reencodes_total",
            "Results re-encoded to fit an upload limit.",
            platform=job.origin.platform,
        )
        return size

    async def _keep_for_link(self, job: Job, path: Path, why: CannotFit) -> ResultLink:
        """The last resort for a video too large to upload even re-encoded: keep it where the
        bot's web server serves it, behind a signed link that expires. Without a public URL
        (VEO_PUBLIC_URL) nobody could open such a link, and the job fails instead."""
        ttl_s = self._config.result_link_ttl_s
        link = self._links.result_link(job.id, ttl_s) if self._links is not None else None
        if link is None:
            raise DeliveryError(
                str(why),
                retryable=False,
                user_message=_("The video is too large to post here, even compressed."),
            ) from why
        kept = await asyncio.to_thread(
            self._files.keep, path, job.id, older_than=self._clock.now() - ttl_s
        )
        # In the database too: the link may reach any replica.
        await put_file(self._store, kept_name(job.id), kept, now=self._clock.now())
        log.info("job %s: too large to upload even re-encoded; posting a link", job.id)
        self._metrics.count(
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
                    self._providers[job.provider].download(status),
                    path,
                    max_bytes=self._config.max_result_bytes,
                )
            except ProviderJobNotFound:
                if fresh:
                    raise
                log.info("job %s: result URL expired, asking the provider for a new one", job.id)
                status, fresh = await self._fresh_result(job), True

    async def _fresh_result(self, job: Job) -> ProviderStatus:
        assert job.provider_job_id is not None
        provider = self._providers[job.provider]
        status = await timed(
            self._metrics, job.provider, "status", provider.get_status(job.provider_job_id)
        )
        if status.state is not ProviderJobState.SUCCEEDED:
            raise DeliveryError(f"provider reports {status.state} for a finished job")
        return status

    async def _finish(self, job: Job, refs: Refs, result_bytes: int | None = None) -> None:
        done = await self._store.transition(
            job.id,
            (JobState.DELIVERING,),
            JobState.DELIVERED,
            now=self._clock.now(),
            ledger=LedgerAction.SETTLE,
            delivery_refs=refs,
            progress=100,
            result_bytes=result_bytes if result_bytes is not None else job.result_bytes,
        )
        if done is not None:
            log.info("job %s delivered", job.id)
            self._metrics.count(
                "veo_deliveries_total", "Videos posted.", platform=job.origin.platform
            )
            self._outcomes.settled(done)
            if grouped(done):  # its group's card, found again: the other takes are on it
                await self._groups.deliver_if_complete(done)

    async def _remaining_notice(self, job: Job) -> str | None:
        report = await self._quota_report(job.origin)
        return _("{left} of your {limit} left today.").format(
            left=i18n.seconds(report.remaining_today_s), limit=i18n.seconds(report.daily_limit_s)
        )


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
