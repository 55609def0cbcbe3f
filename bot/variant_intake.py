"""Recording a request for several takes (`count` > 1): a job per take, in a group, reserved
together, all or nothing, and refused saying how many takes would fit (see `bot.variants`).
For a model that makes them all in one call, the first take's job asks for every take and
the others ride on it (`bot.samples`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bot.catalog import ModelSpec
from bot.errors import QuotaExceeded
from bot.models import Job, MediaRole, QuotaLimits, QuotaPeriod
from bot.ports import Store
from bot.variants import fit_refusal, one_job, takes


async def record_takes(
    store: Store,
    job: Job,
    *,
    spec: ModelSpec,
    media: Sequence[tuple[MediaRole, int, bytes]],
    limits: QuotaLimits,
    period: QuotaPeriod,
    ids: Sequence[str],
    idempotency_key: str | None = None,
) -> list[Job]:
    """Store `job` (validated, priced for one take, its request's `count` > 1) as the takes
    it asks for, and reserve them; the jobs stored, first take first. `ids`: a fresh job id
    per further take. Raises `QuotaExceeded` saying how many takes would fit."""
    count = job.request.count
    price = job.cost_micro_usd
    together = one_job(spec.max_samples, count)
    jobs = []
    for i, request in enumerate(takes(job.request)):
        if together:  # the first take's job asks for all; the others ride on it
            request = request.model_copy(update={"count": count if i == 0 else 0})
        jobs.append(
            replace(
                job,
                id=job.id if i == 0 else ids[i - 1],
                request=request,
                group_id=job.id,
                take=i,
                due_at=job.due_at if i == 0 or not together else None,
            )
        )
    try:
        stored = await store.create_jobs(
            jobs, media, limits, period, idempotency_key=idempotency_key
        )
    except QuotaExceeded as refusal:
        raise fit_refusal(
            refusal, count=count, take_s=job.cost_s, take_micro_usd=price
        ) from refusal
    return stored
