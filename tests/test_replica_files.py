"""A job's files in the database, on SQLite and PostgreSQL: a delivery that has to wait is
taken up by another replica (a disk of its own) with the copy the first one downloaded, and
the stored copy goes once the video is posted."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from bot.jobs import JobService
from bot.models import Job, JobState
from bot.shared_files import own_copy_name
from tests.support import RecordingSurface, ScriptedProvider, make_service, origin
from tests.test_jobs import REQUEST

if TYPE_CHECKING:
    from storage import AnyStore


async def step_until(service: JobService, store: AnyStore, job_id: str, reached: str) -> Job:
    """Step the job with `service` (as a replica that claimed it would) until `reached`."""
    for _ in range(30):
        job = await store.get_job(job_id)
        assert job is not None
        if reached == "failed_post" and job.delivery_failures >= 1:
            return job
        if job.state.value == reached:
            return job
        await service.advance(job)
    raise AssertionError(f"job {job_id} never reached {reached}")


async def test_a_post_that_failed_is_retried_by_another_replica_with_the_stored_copy(
    any_store: AnyStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider(video=b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 9000)
    first_surface = RecordingSurface(fail_deliveries=1)
    first = make_service(
        any_store,
        tmp_path / "a",
        providers={"scripted": provider},
        surfaces={"chat": first_surface},
    )
    job = await first.submit(REQUEST, origin())
    waiting = await step_until(first, any_store, job.id, "failed_post")
    assert waiting.state is JobState.DELIVERING and provider.downloads == 1
    assert await any_store.blob_size(own_copy_name(job.id)) == len(provider.video)
    shutil.rmtree(tmp_path / "a")  # that replica's disk is gone with it

    second_surface = RecordingSurface()
    second = make_service(
        any_store,
        tmp_path / "b",
        providers={"scripted": provider},
        surfaces={"chat": second_surface},
    )
    done = await step_until(second, any_store, job.id, "delivered")
    [posted] = second_surface.of(job.id, "video")
    assert posted.size == len(provider.video) == done.result_bytes
    assert provider.downloads == 1  # the provider was not asked again
    assert await any_store.blob_size(own_copy_name(job.id)) is None
