"""The `local` provider: an embedded preview renderer, no network, no keys.

It behaves like a remote API so that the whole pipeline runs on a fresh machine: `submit`
writes the job to its own work directory and starts a render in a worker thread; `get_status`
reports queued / running with real progress / succeeded; `download` streams the file. The work
directory is its durable state: a process that starts after a crash finds unfinished renders
there and starts them again, as a real provider would have kept working while the bot was down.

Given the store's blobs (`shared`, as `veo-bot` does), the job's spec and images and the
finished video also live in the database, under `local/<render id>/`, so every process on the
database can answer for any render: the finished video is read from the database, and a render
unknown to this process's folder (started by a process that died, or on another replica) is
rendered again here from the stored spec (the same frames, size and length).

It is a preview renderer (camera motion over the image, blends to the last frame), not AI.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from adapters.providers._render import RenderCancelled, RenderSpec, render_mp4
from bot.catalog import InputKind, ModelSpec, frame_size
from bot.errors import ProviderBadRequest, ProviderJobNotFound
from bot.i18n import _
from bot.models import GenerationRequest, ProviderHealth, ProviderJobState, ProviderStatus
from bot.shared_files import Blobs

log = logging.getLogger(__name__)

_CHUNK = 256 * 1024
_RESULT = "result.mp4"
_SPEC = "spec.json"
_ERROR = "error.txt"
_IMAGES = ("first.img", "last.img")
# A video in the database, as `get_status` names it: any process on the database can read it.
_SHARED_SCHEME = "veo-blob:"


def _blob(render_id: str, file: str) -> str:
    return f"local/{render_id}/{file}"


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as source:
        while chunk := await asyncio.to_thread(source.read, _CHUNK):
            yield chunk


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


@dataclass
class _Render:
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: float = 0.0
    started: bool = False
    task: asyncio.Task[None] | None = None


class LocalProvider:
    """The embedded preview renderer as a `VideoProvider`: no network, its folder its state."""

    name = "local"
    idempotent_submit = True  # the render id is the job id: a second submit finds the first
    poll_interval_s: float | None = 0.25

    def __init__(
        self,
        work_dir: Path,
        *,
        max_parallel: int = 1,
        poll_interval_s: float = 0.25,
        shared: Blobs | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # Absolute: result URLs are file:// URIs, and the process may change directory.
        self.work_dir = work_dir.resolve()
        self._shared = shared
        self._clock = clock
        self.poll_interval_s = poll_interval_s
        self._slots = asyncio.Semaphore(max_parallel)
        self._renders: dict[str, _Render] = {}

    async def submit(
        self, job_id: str, request: GenerationRequest, *, callback_url: str | None
    ) -> str:
        """Write the job into the work directory and start rendering it (render id: the job id)."""
        del callback_url  # renders in-process; the scheduler polls it cheaply
        render_id = job_id
        job_dir = self.work_dir / render_id
        if (job_dir / _SPEC).exists():
            self._ensure_running(render_id)
            return render_id
        if request.resolution is None or request.aspect_ratio is None or request.duration_s is None:
            raise ProviderBadRequest(detail="request was not validated")
        width, height = frame_size(request.resolution, request.aspect_ratio)
        staging = self.work_dir / f".{render_id}.staging"
        await asyncio.to_thread(self._write_job, staging, job_dir, request, width, height)
        if self._shared is not None:
            # The spec last: once it is there, the job is there whole, for any process.
            for file in (*_IMAGES, _SPEC):
                path = job_dir / file
                if path.exists():
                    await self._shared.put_blob(
                        _blob(render_id, file), _file_chunks(path), now=self._clock()
                    )
        self._ensure_running(render_id)
        return render_id

    @staticmethod
    def _write_job(
        staging: Path, job_dir: Path, request: GenerationRequest, width: int, height: int
    ) -> None:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        spec = {
            "width": width,
            "height": height,
            "duration_s": request.duration_s,
            "seed": request.seed or 0,
            "prompt": request.prompt,
        }
        for name, image in (("first", request.first_frame), ("last", request.last_frame)):
            if image is not None:
                (staging / f"{name}.img").write_bytes(image.data)
        (staging / _SPEC).write_text(json.dumps(spec), encoding="utf-8")
        # The job appears whole or not at all.
        os.replace(staging, job_dir)

    def _ensure_running(self, render_id: str) -> _Render:
        render = self._renders.get(render_id)
        if render is None or (render.task is not None and render.task.done()):
            render = _Render()
            self._renders[render_id] = render
            render.task = asyncio.create_task(self._render(render_id, render))
        return render

    async def _render(self, render_id: str, render: _Render) -> None:
        job_dir = self.work_dir / render_id
        async with self._slots:
            render.started = True
            try:
                spec = await asyncio.to_thread(self._load_spec, job_dir)

                def report(fraction: float) -> None:
                    render.progress = fraction

                await asyncio.to_thread(
                    render_mp4, spec, job_dir / _RESULT, progress=report, cancel=render.cancel
                )
                if self._shared is not None:
                    video = _file_chunks(job_dir / _RESULT)
                    await self._shared.put_blob(_blob(render_id, _RESULT), video, now=self._clock())
            except RenderCancelled:
                log.info("local render %s stopped; it resumes when asked again", render_id)
            except Exception as exc:
                log.exception("local render %s failed", render_id)
                (job_dir / _ERROR).write_text(type(exc).__name__, encoding="utf-8")
                if self._shared is not None:
                    why = _once(type(exc).__name__.encode())
                    await self._shared.put_blob(_blob(render_id, _ERROR), why, now=self._clock())

    @staticmethod
    def _load_spec(job_dir: Path) -> RenderSpec:
        raw = json.loads((job_dir / _SPEC).read_text(encoding="utf-8"))
        first = job_dir / "first.img"
        last = job_dir / "last.img"
        return RenderSpec(
            width=raw["width"],
            height=raw["height"],
            duration_s=float(raw["duration_s"]),
            seed=int(raw["seed"]),
            prompt=raw["prompt"],
            first_frame=first.read_bytes() if first.exists() else None,
            last_frame=last.read_bytes() if last.exists() else None,
        )

    async def get_status(self, provider_job_id: str) -> ProviderStatus:
        """Queued, running with real progress, succeeded or failed, as the work directory (and
        with `shared`, the database) shows."""
        if self._shared is not None:
            return await self._shared_status(provider_job_id)
        job_dir = self.work_dir / provider_job_id
        result = job_dir / _RESULT
        if result.exists():
            return ProviderStatus(
                state=ProviderJobState.SUCCEEDED, progress=100, video_url=result.as_uri()
            )
        if (job_dir / _ERROR).exists():
            return ProviderStatus(
                state=ProviderJobState.FAILED,
                error_code="render_failed",
                error_message=_("The preview renderer could not read the image."),
            )
        if not (job_dir / _SPEC).exists():
            raise ProviderJobNotFound(detail=f"no local render {provider_job_id}")
        return self._running(provider_job_id)

    def _running(self, render_id: str) -> ProviderStatus:
        # Unknown to this process (it started after a crash): render again from the saved job.
        render = self._ensure_running(render_id)
        if not render.started:
            return ProviderStatus(state=ProviderJobState.QUEUED, progress=0)
        return ProviderStatus(state=ProviderJobState.RUNNING, progress=int(render.progress * 100))

    async def _shared_status(self, render_id: str) -> ProviderStatus:
        """The render as the database shows it: finished when its video is stored there,
        failed when its error is, else rendering here (again, when another process began it)."""
        assert self._shared is not None
        if await self._shared.blob_size(_blob(render_id, _RESULT)) is not None:
            return ProviderStatus(
                state=ProviderJobState.SUCCEEDED,
                progress=100,
                video_url=_SHARED_SCHEME + _blob(render_id, _RESULT),
            )
        if await self._shared.blob_size(_blob(render_id, _ERROR)) is not None:
            return ProviderStatus(
                state=ProviderJobState.FAILED,
                error_code="render_failed",
                error_message=_("The preview renderer could not read the image."),
            )
        job_dir = self.work_dir / render_id
        if not (job_dir / _SPEC).exists() and not await self._fetch_job(render_id, job_dir):
            raise ProviderJobNotFound(detail=f"no local render {render_id}")
        return self._running(render_id)

    async def _fetch_job(self, render_id: str, job_dir: Path) -> bool:
        """Copy a job another process submitted from the database into this folder; False
        when the database has no such job."""
        assert self._shared is not None
        if await self._shared.blob_size(_blob(render_id, _SPEC)) is None:
            return False
        staging = self.work_dir / f".{render_id}.{secrets.token_hex(4)}.fetching"
        await asyncio.to_thread(staging.mkdir, parents=True)
        try:
            for file in (*_IMAGES, _SPEC):
                if await self._shared.blob_size(_blob(render_id, file)) is None:
                    continue
                with (staging / file).open("wb") as out:
                    async for chunk in self._shared.read_blob(_blob(render_id, file)):
                        await asyncio.to_thread(out.write, chunk)
            # Fetched meanwhile by another step of this process: that copy stays.
            with contextlib.suppress(OSError):
                await asyncio.to_thread(os.replace, staging, job_dir)
        finally:
            await asyncio.to_thread(shutil.rmtree, staging, True)
        return True

    async def download(self, status: ProviderStatus) -> AsyncIterator[bytes]:
        """Stream the rendered file: from the database, or read in a worker thread."""
        if status.video_url is not None and status.video_url.startswith(_SHARED_SCHEME):
            if self._shared is None:
                raise ProviderJobNotFound(detail="this renderer has no database")
            try:
                async for chunk in self._shared.read_blob(status.video_url[len(_SHARED_SCHEME) :]):
                    yield chunk
            except FileNotFoundError as exc:
                raise ProviderJobNotFound(detail=str(exc)) from None
            return
        if status.video_url is None or not status.video_url.startswith("file://"):
            raise ProviderJobNotFound(detail="local results are files")
        path = Path(url2pathname(urlparse(status.video_url).path))
        with path.open("rb") as source:  # noqa: ASYNC230 - reads go through a worker thread
            while chunk := await asyncio.to_thread(source.read, _CHUNK):
                yield chunk

    async def cancel(self, provider_job_id: str) -> bool:
        """Stop the render for good: its directory goes, so no later process resumes it."""
        render = self._renders.pop(provider_job_id, None)
        if render is not None:
            render.cancel.set()
            if render.task is not None:
                await asyncio.gather(render.task, return_exceptions=True)
        stored = 0
        if self._shared is not None:
            names = [_blob(provider_job_id, f) for f in (*_IMAGES, _SPEC, _RESULT, _ERROR)]
            stored = await self._shared.delete_blobs(names)
        job_dir = self.work_dir / provider_job_id
        if not job_dir.is_dir():
            return render is not None or stored > 0
        await asyncio.to_thread(shutil.rmtree, job_dir, True)
        return True

    async def verify_callback(self, headers: Mapping[str, str], body: bytes, *, now: float) -> None:
        """Nothing to check: the renderer runs in-process and never calls back."""
        del headers, body, now  # renders in-process and never calls back

    async def health(self) -> ProviderHealth:
        """Nothing to reach and no key: the renderer runs here, in its work directory."""
        try:
            await asyncio.to_thread(self.work_dir.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            return ProviderHealth(
                False, None, detail=f"cannot use {self.work_dir}: {exc.strerror or exc}"
            )
        return ProviderHealth(
            True, None, frozenset(m.id for m in MODELS), detail="embedded renderer, no key"
        )

    async def discard(self, provider_job_id: str) -> None:
        """Remove a finished render's folder (its images, spec and video), once the job's
        retention period is over: the same as stopping it for good."""
        await self.cancel(provider_job_id)

    async def aclose(self) -> None:
        """Stop every render; unfinished ones resume in the next process."""
        tasks = []
        for render in self._renders.values():
            render.cancel.set()
            if render.task is not None:
                tasks.append(render.task)
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._renders.clear()


# The models `local` offers (the catalog is assembled from every provider's table). Rendered
# on the bot's own machine: no provider charges for them.
_FREE = "rendered on this machine: no provider charge"
MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        provider="local",
        id="local-preview",
        label="Local preview (720p)",
        description="Embedded preview renderer: camera motion over your image, not AI.",
        durations=tuple(range(2, 11)),
        default_duration=5,
        aspect_ratios=("16:9", "9:16", "1:1"),
        resolutions=("720p",),
        inputs=frozenset({InputKind.TEXT, InputKind.FIRST_FRAME, InputKind.LAST_FRAME}),
        max_prompt_chars=2000,
        default=True,
        price_usd_per_s=0.0,
        price_source=_FREE,
    ),
    ModelSpec(
        provider="local",
        id="local-draft",
        label="Local draft (360p)",
        description="Embedded preview renderer at 360p: fastest, for trying settings.",
        durations=tuple(range(2, 11)),
        default_duration=5,
        aspect_ratios=("16:9", "9:16", "1:1"),
        resolutions=("360p",),
        inputs=frozenset({InputKind.TEXT, InputKind.FIRST_FRAME, InputKind.LAST_FRAME}),
        max_prompt_chars=2000,
        price_usd_per_s=0.0,
        price_source=_FREE,
    ),
)
