"""The takes of one request in the store, on every engine (issue 18, variants): inserted and
reserved together, all or none; found again by the request's idempotency key; read back as a
group in take order."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from bot.errors import QuotaExceeded
from bot.models import GenerationRequest, Job, JobState, MediaRole, QuotaLimits
from bot.ports import LedgerAction
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


async def test_a_request_over_the_concurrency_limit_waits_and_starts_whole(
    any_store: AnyStore,
) -> None:
    one_at_a_time = QuotaLimits(100, 1, 0)
    [running] = await any_store.create_jobs(takes("r", 1), [], one_at_a_time, PERIOD)
    later = [replace(take, created_at=NOW + 1) for take in takes("g1", 3)]
    stored = await any_store.create_jobs(later, [], one_at_a_time, PERIOD)

    assert [take.state for take in stored] == [JobState.QUEUED] * 3
    assert [take.state for take in await any_store.group_jobs("g1")] == [JobState.QUEUED] * 3
    # Its slot is taken: it waits on, whichever of its takes comes due.
    assert (
        await any_store.start_queued("g1-1", one_at_a_time, now=NOW, deadline_at=NOW + 600) is None
    )
    await any_store.transition(
        running.id, (JobState.PENDING,), JobState.FAILED, now=NOW + 2, ledger=LedgerAction.REFUND
    )

    started = await any_store.start_queued(
        "g1-2", one_at_a_time, now=NOW + 3, deadline_at=NOW + 900
    )
    assert started is not None and started.state is JobState.PENDING
    group = await any_store.group_jobs("g1")
    assert [take.state for take in group] == [JobState.PENDING] * 3
    assert {take.deadline_at for take in group} == {NOW + 900}
