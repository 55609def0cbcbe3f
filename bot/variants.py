"""Variants: one request for 1 to 4 takes of the same video (`count`).

Every take is a job of its own, the takes linked by a group id (the first take's job id) and
numbered from 0, posted together on one card (`bot.group_delivery`). A model that makes
several takes in one call (`ModelSpec.max_samples`, Vertex `sampleCount`) makes them in one
provider job: the first take's request says how many, the others' say 0 (`bot.samples`). Either way
the whole request is charged in one reservation, all or nothing: when N takes do not fit, the
refusal says how many would. A seed given by the person makes take i use seed + i, so the
takes differ and each stays reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from bot import money
from bot.errors import InvalidRequest, QuotaExceeded
from bot.i18n import _, ngettext
from bot.models import GenerationRequest, Job, ResultLink
from bot.quota import (
    CHANNEL_DAILY,
    USER_DAILY,
    USER_DAILY_USD,
    WORKSPACE_MONTHLY,
    WORKSPACE_MONTHLY_USD,
)

MAX_TAKES = 4


@dataclass(frozen=True, slots=True)
class TakeVideo:
    """One take on a group's card: its job, and its video as a file to upload or, when even
    re-encoded it is too large there, as a link (one of the two)."""

    job: Job
    video: Path | None
    link: ResultLink | None = None

    @property
    def number(self) -> int:
        """The take as people count it, from 1."""
        return self.job.take + 1


# The largest seed a take may use (the catalog's MAX_SEED, which imports this module).
_MAX_SEED = 2**32 - 1


def grouped(job: Job) -> bool:
    """Whether the job is a take shown on its group's one card (`bot.group_delivery`; a
    private request's takes go to their requester one by one)."""
    return job.group_id is not None and not job.request.private


def count_out_of_range(count: int) -> str:
    """The refusal of a count outside 1 to 4, in plain words."""
    return _("Ask for 1 to {most} videos at once, not {count}.").format(most=MAX_TAKES, count=count)


def none_of_the_takes(count: int, refunded_s: float) -> str:
    """Every take of a request failed: nothing to show, nothing charged (said on the card)."""
    return ngettext(
        "The video could not be made; its {seconds} s were refunded.",
        "None of the {count} videos could be made; their {seconds} s were refunded.",
        count,
    ).format(count=count, seconds=f"{refunded_s:g}")


def parse_count(raw: str | int | None) -> int:
    """The number of takes a person typed or picked (None or blank: 1); `InvalidRequest`
    saying what is allowed for anything else."""
    if raw is None:
        return 1
    if isinstance(raw, int):
        value = raw
    else:
        text = raw.strip()
        if not text:
            return 1
        if not text.isdigit():
            raise InvalidRequest(
                _("The number of videos must be a whole number from 1 to {most}.").format(
                    most=MAX_TAKES
                ),
                field="count",
            )
        value = int(text)
    if not 1 <= value <= MAX_TAKES:
        raise InvalidRequest(count_out_of_range(value), field="count")
    return value


def one_job(max_samples: int, count: int) -> bool:
    """Whether `count` takes of a model that makes up to `max_samples` in one call
    (`ModelSpec.max_samples`) are made by one provider job."""
    return count == 1 or count <= max_samples


def takes(request: GenerationRequest) -> list[GenerationRequest]:
    """The requests of the jobs that make a validated request's `count` takes, each for one
    take, take i with seed + i (wrapping past the largest seed) when a seed was given."""
    return [
        request.model_copy(
            update={
                "count": 1,
                "seed": None if request.seed is None else (request.seed + i) % (_MAX_SEED + 1),
            }
        )
        for i in range(request.count)
    ]


def fit_refusal(
    refusal: QuotaExceeded, *, count: int, take_s: float, take_micro_usd: int | None
) -> QuotaExceeded:
    """The refusal of `count` takes that do not all fit: the limit met, and how many takes of
    `take_s` seconds (and `take_micro_usd`) would fit under it. Refusals that are not about
    what is left (a person already busy, a price not known) are returned as they are."""
    left = refusal.allowed - refusal.used
    if refusal.limit in (USER_DAILY, CHANNEL_DAILY, WORKSPACE_MONTHLY):
        fit = math.floor(left / take_s + 1e-9) if take_s > 0 else count
    elif refusal.limit in (USER_DAILY_USD, WORKSPACE_MONTHLY_USD) and take_micro_usd:
        fit = math.floor(left * money.MICRO / take_micro_usd + 1e-9)
    else:
        return refusal
    fit = max(0, min(fit, count - 1))
    if fit == 0:
        words = _("None of the {count} videos fit: {reason}").format(
            count=count, reason=refusal.user_message
        )
    else:
        words = ngettext(
            "{count} videos do not fit, but {fit} would: {reason}",
            "{count} videos do not fit, but {fit} would: {reason}",
            fit,
        ).format(count=count, fit=fit, reason=refusal.user_message)
    return QuotaExceeded(
        words,
        limit=refusal.limit,
        used=refusal.used,
        allowed=refusal.allowed,
        resets_at=refusal.resets_at,
    )
