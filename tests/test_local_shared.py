"""The `local` provider with its renders in the database: a render one process started is
answered for, downloaded and discarded by any other process on the database (SQLite and
PostgreSQL), with no file of the first process's folder in sight."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from adapters.providers.local import LocalProvider
from bot.errors import ProviderJobNotFound
from bot.models import GenerationRequest, ProviderJobState, ProviderStatus
from tests.support import eventually
from tests.test_local_provider import probe

if TYPE_CHECKING:
    from storage import AnyStore

REQUEST = GenerationRequest(
    prompt="a lighthouse",
    model="local-draft",
    duration_s=2,
    aspect_ratio="1:1",
    resolution="360p",
    seed=7,
)


async def finished(provider: LocalProvider, render_id: str) -> ProviderStatus:
    async def done() -> ProviderStatus | None:
        status = await provider.get_status(render_id)
        assert status.state is not ProviderJobState.FAILED
        return status if status.state is ProviderJobState.SUCCEEDED else None

    return await eventually(done, timeout_s=60, step_s=0.05)


async def video(provider: LocalProvider, status: ProviderStatus) -> bytes:
    return b"".join([chunk async for chunk in provider.download(status)])


async def test_a_render_is_served_by_another_process_from_the_database(
    any_store: AnyStore, tmp_path: Path
) -> None:
    first = LocalProvider(tmp_path / "a", poll_interval_s=0.02, shared=any_store)
    other = LocalProvider(tmp_path / "b", poll_interval_s=0.02, shared=any_store)
    try:
        await first.submit("job1", REQUEST, callback_url=None)
        done = await finished(first, "job1")
        made = (tmp_path / "a" / "job1" / "result.mp4").read_bytes()
        shutil.rmtree(tmp_path / "a")  # the first process's disk is gone
        seen = await other.get_status("job1")
        assert seen.state is ProviderJobState.SUCCEEDED
        assert await video(other, seen) == await video(other, done) == made
        assert not (tmp_path / "b" / "job1").exists()  # nothing rendered twice
        # Discarded by any process: gone for every one.
        await other.discard("job1")
        with pytest.raises(ProviderJobNotFound):
            await first.get_status("job1")
    finally:
        await first.aclose()
        await other.aclose()


async def test_a_render_whose_process_died_is_rendered_again_by_another(
    any_store: AnyStore, tmp_path: Path
) -> None:
    first = LocalProvider(tmp_path / "a", poll_interval_s=0.02, shared=any_store)
    await first.submit("job1", REQUEST, callback_url=None)
    await first.aclose()  # stopped mid-render (or before it began): no video anywhere
    shutil.rmtree(tmp_path / "a")
    assert await any_store.blob_size("local/job1/result.mp4") is None
    other = LocalProvider(tmp_path / "b", poll_interval_s=0.02, shared=any_store)
    reference = LocalProvider(tmp_path / "ref", poll_interval_s=0.02)
    try:
        done = await finished(other, "job1")
        await reference.submit("same", REQUEST, callback_url=None)
        expected = await video(reference, await finished(reference, "same"))
        # The same spec, the same picture: size, frame count and length.
        (tmp_path / "again.mp4").write_bytes(await video(other, done))
        (tmp_path / "expected.mp4").write_bytes(expected)
        assert probe(tmp_path / "again.mp4") == probe(tmp_path / "expected.mp4")
    finally:
        await other.aclose()
        await reference.aclose()


async def test_a_render_nobody_submitted_is_not_found(any_store: AnyStore, tmp_path: Path) -> None:
    provider = LocalProvider(tmp_path / "a", shared=any_store)
    with pytest.raises(ProviderJobNotFound):
        await provider.get_status("nope")
    gone = ProviderStatus(
        state=ProviderJobState.SUCCEEDED, progress=100, video_url="veo-blob:local/nope/result.mp4"
    )
    with pytest.raises(ProviderJobNotFound):
        await video(provider, gone)
