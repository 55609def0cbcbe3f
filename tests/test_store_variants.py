"""The takes of one request in the store, on every engine (issue 18, variants): inserted and
reserved together, all or none; found again by the request's idempotency key; read back as a
group in take order."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from bot.errors import QuotaExceeded
from bot.models import GenerationRequest, Job, JobState, MediaRole, QuotaLimits
from bot.quota import USER_DAILY, period_at
from tests.support import origin

if TYPE_CHECKING:
    from storage import AnyStore

NOW = 1_790_000_000.0
PERIOD = period_at(NOW)


def takes(group: str, count: int, *, cost_s: float = 4) -> list[Job]:
    first = Job(
        id=group,
        origin=origin(),
        request=GenerationRequest(prompt="p", duration_s=4),
        provider="scripted",
        model="m",
        state=JobState.PENDING,
        created_at=NOW,
        updated_at=NOW,
        deadline_at=NOW + 600,
        cost_s=cost_s,
        due_at=NOW,
        group_id=group,
    )
    return [replace(first, id=group if i == 0 else f"{group}-{i}", take=i) for i in range(count)]


async def test_takes_are_stored_together_and_read_back_in_order(any_store: AnyStore) -> None:
    written = takes("g1", 3)
    media = [(MediaRole.FIRST_FRAME, 0, b"png")]
    stored = await any_store.create_jobs(
        written, media, QuotaLimits(100, 1, 0), PERIOD, idempotency_key="k1"
    )

    assert stored == written
    assert await any_store.group_jobs("g1") == written
    assert await any_store.get_job("g1-2") == written[2]
    assert await any_store.load_media("g1-1") == {(MediaRole.FIRST_FRAME, 0): b"png"}
    usage = await any_store.quota_usage("chat:w1:u1", "chat:w1", PERIOD)
    assert usage.used_today_s == 12 and usage.in_flight == 3
    # The same request again (a platform's retry): the takes already stored, nothing more.
    again = await any_store.create_jobs(
        takes("g2", 3), [], QuotaLimits(100, 1, 0), PERIOD, idempotency_key="k1"
    )
    assert again == written
    assert await any_store.group_jobs("g2") == []


async def test_takes_that_do_not_all_fit_are_refused_together(any_store: AnyStore) -> None:
    with pytest.raises(QuotaExceeded) as refused:
        await any_store.create_jobs(takes("g1", 4), [], QuotaLimits(10, 5, 0), PERIOD)

    assert refused.value.limit == USER_DAILY
    assert await any_store.group_jobs("g1") == []
    usage = await any_store.quota_usage("chat:w1:u1", "chat:w1", PERIOD)
    assert usage.used_today_s == 0 and usage.in_flight == 0
