"""Retention: what finished jobs keep (their input images, the local renderer's files, a
video kept on disk or in the database) is removed once the retention period is over. The
job's record and its ledger row stay, for usage reports and `veo-bot jobs`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from bot.clock import Clock
from bot.config import ServiceConfig
from bot.job_files import JobFiles
from bot.metrics import Metrics
from bot.models import Job
from bot.ports import KeepsFiles, Store, VideoProvider
from bot.shared_files import names_of

log = logging.getLogger(__name__)


class Retention:
    """The sweep the scheduler runs every `purge_interval_s`."""

    def __init__(
        self,
        *,
        store: Store,
        providers: Mapping[str, VideoProvider],
        config: ServiceConfig,
        clock: Clock,
        metrics: Metrics,
        files: JobFiles,
    ) -> None:
        self._store = store
        self._providers = providers
        self._config = config
        self._clock = clock
        self._metrics = metrics
        self._files = files

    async def purge_expired(self, *, batch: int = 100) -> int:
        """Remove what finished jobs keep once their retention period is over: their input
        images, the local renderer's files, a result kept on disk. The job's record stays,
        for usage reports and `veo-bot jobs`. Returns how many jobs were purged."""
        cutoff = self._clock.now() - self._config.retention_s
        purged = 0
        while jobs := await self._store.expired_jobs(finished_before=cutoff, limit=batch):
            for job in jobs:
                await self._purge(job)
            purged += len(jobs)
        if purged:
            log.info("purged the files of %d job(s) finished before the retention period", purged)
            self._metrics.count(
                "veo_purged_jobs_total",
                "Finished jobs whose files were removed after the retention period.",
                amount=purged,
            )
        return purged

    async def _purge(self, job: Job) -> None:
        provider = self._providers.get(job.provider)
        if isinstance(provider, KeepsFiles) and job.provider_job_id is not None:
            try:
                await provider.discard(job.provider_job_id)
            except OSError as exc:
                log.warning("job %s: the provider's files stay: %s", job.id, exc)
        await asyncio.to_thread(self._files.kept(job.id).unlink, missing_ok=True)
        await self._store.delete_blobs(names_of(job.id))  # its result and copy in the database
        await asyncio.to_thread(self._files.drop_own_copy, job.id)  # if a crash left it
        # Scratch folders of delivery runs a crash cut short (a run removes its own).
        await asyncio.to_thread(self._files.remove_scratch, job.id)
        await self._store.mark_purged(job.id, now=self._clock.now())
