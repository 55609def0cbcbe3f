"""The `local` provider: an embedded preview renderer, no network, no keys.

It behaves like a remote API so that the whole pipeline runs on a fresh machine: `submit`
writes the job to its own work directory and starts a render in a worker thread; `get_status`
reports queued / running with real progress / succeeded; `download` streams the file. The work
directory is its durable state: a process that starts after a crash finds unfinished renders
there and starts them again, as a real provider would have kept working while the bot was down.

It is a preview renderer (camera motion over the image, blends to the last frame), not AI.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from adapters.providers._render import RenderCancelled, RenderSpec, render_mp4
from bot.catalog import InputKind, ModelSpec, frame_size
from bot.errors import ProviderBadRequest, ProviderJobNotFound
from bot.models import GenerationRequest, ProviderHealth, ProviderJobState, ProviderStatus

log = logging.getLogger(__name__)

_CHUNK = 256 * 1024
_RESULT = "result.mp4"
_SPEC = "spec.json"
_ERROR = "error.txt"


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
        self, work_dir: Path, *, max_parallel: int = 1, poll_interval_s: float = 0.25
    ) -> None:
        # Absolute: result URLs are file:// URIs, and the process may change directory.
        self.work_dir = work_dir.resolve()
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
            except RenderCancelled:
                log.info("local render %s stopped; it resumes when asked again", render_id)
            except Exception as exc:
                log.exception("local render %s failed", render_id)
                (job_dir / _ERROR).write_text(type(exc).__name__, encoding="utf-8")

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
        """Queued, running with real progress, succeeded or failed, as the work directory shows."""
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
                error_message="The preview renderer could not read the image.",
            )
        if not (job_dir / _SPEC).exists():
            raise ProviderJobNotFound(detail=f"no local render {provider_job_id}")
        # Unknown to this process (it started after a crash): render again from the saved job.
        render = self._ensure_running(provider_job_id)
        if not render.started:
            return ProviderStatus(state=ProviderJobState.QUEUED, progress=0)
        return ProviderStatus(state=ProviderJobState.RUNNING, progress=int(render.progress * 100))

    async def download(self, status: ProviderStatus) -> AsyncIterator[bytes]:
        """Stream the rendered file, read in a worker thread."""
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
        job_dir = self.work_dir / provider_job_id
        if not job_dir.is_dir():
            return render is not None
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
