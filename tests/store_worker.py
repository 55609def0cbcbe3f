"""One process of a race on one database, for the store conformance suite (and the bench):

    python -m tests.store_worker reserve URL COUNT [USER]
    python -m tests.store_worker claim URL BATCH
    python -m tests.store_worker migrate URL

It opens the store at URL, prints `ready`, waits for `go` on stdin so that every process of
the race starts at once, does its part, and prints one JSON line with what it got.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import TYPE_CHECKING

from bot.errors import QuotaExceeded
from bot.models import GenerationRequest, Job, JobState, Origin, QuotaLimits
from bot.quota import period_at
from storage import migrate, open_store

if TYPE_CHECKING:
    from storage import AnyStore

# 10 s per job against 40 s a day per user (4 jobs each) and 1,500 s a month for the workspace
# (150 jobs in all, fewer than its 50 users' 200).
COST_S = 10.0
LIMITS = QuotaLimits(user_daily_s=40, user_concurrent=1000, workspace_monthly_s=1500)
NOW = 1_790_000_000.0


def race_job(job_id: str, user: str, workspace: str = "w1", *, now: float = NOW) -> Job:
    return Job(
        id=job_id,
        origin=Origin(platform="chat", workspace_id=workspace, channel_id="c1", user_id=user),
        request=GenerationRequest(prompt="race", duration_s=int(COST_S)),
        provider="scripted",
        model="m",
        state=JobState.PENDING,
        created_at=now,
        updated_at=now,
        deadline_at=now + 600,
        cost_s=COST_S,
        due_at=now,
    )


async def _started() -> float:
    print("ready", flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)
    if line.strip() != "go":
        raise SystemExit(f"expected go, got {line!r}")
    return time.perf_counter()


async def _reserve(store: AnyStore, count: int, user: str | None) -> dict[str, object]:
    tag = f"{time.monotonic_ns()}-{id(store)}"

    async def attempt(index: int) -> str | None:
        # One user given: every attempt theirs, in a workspace of their own.
        job = (
            race_job(f"{tag}-{index}", user, f"w-{user}")
            if user
            else race_job(f"{tag}-{index}", f"u{index % 50}")
        )
        try:
            await store.create_job(job, [], LIMITS, period_at(NOW))
        except QuotaExceeded:
            return None
        return job.id

    start = await _started()
    results = await asyncio.gather(*(attempt(i) for i in range(count)))
    elapsed = time.perf_counter() - start
    accepted = [r for r in results if r is not None]
    return {"accepted": accepted, "attempts": count, "seconds": elapsed}


async def _claim(store: AnyStore, batch: int) -> dict[str, object]:
    start = await _started()
    claimed: list[str] = []
    while jobs := await store.claim_due(now=NOW, lease_s=3600, limit=batch, platforms=["chat"]):
        claimed += [job.id for job in jobs]
    return {"claimed": claimed, "seconds": time.perf_counter() - start}


async def main(argv: list[str]) -> None:
    action, url, *rest = argv
    if action == "migrate":
        await _started()
        done = await migrate(url)
        print(json.dumps({"applied": done.applied, "version": done.version}), flush=True)
        return
    store = await open_store(url)
    try:
        if action == "reserve":
            result = await _reserve(store, int(rest[0]), rest[1] if len(rest) > 1 else None)
        elif action == "claim":
            result = await _claim(store, int(rest[0]))
        else:
            raise SystemExit(f"unknown action {action}")
    finally:
        await store.close()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
