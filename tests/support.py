"""Test stand-ins for the outside parties of the core's ports: a chat platform that records
what it was sent, and a scripted video provider. Neither replaces any of veo-bot's own code."""

from __future__ import annotations

import array
import asyncio
import io
import math
import os
import random
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import av
from PIL import Image

from adapters.providers import default_catalog
from bot import webhooks
from bot.budget import ProviderLimits
from bot.catalog import Catalog, InputKind, ModelSpec
from bot.clock import Clock, SystemClock
from bot.config import ServiceConfig
from bot.errors import DeliveryError, ProviderError, ProviderJobNotFound
from bot.jobs import JobService
from bot.links import MediaLinks
from bot.models import (
    GenerationRequest,
    Job,
    JobState,
    Origin,
    ProviderHealth,
    ProviderJobState,
    ProviderStatus,
    QuotaLimits,
    ResultLink,
)
from bot.ports import ChatSurface, Store, VideoProvider
from bot.quota import period_at
from bot.refs import Refs, load_refs

T = TypeVar("T")


def png_bytes(
    width: int = 320, height: int = 180, color: tuple[int, int, int] = (200, 40, 40)
) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="PNG")
    return buf.getvalue()


def palette_png(width: int, height: int) -> bytes:
    """A one-colour palette PNG of any size, a few kilobytes per 10 megapixels: the shape of
    a decompression bomb. Written row by row, never held decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    packer = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte, then palette index 0 for every pixel
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"PLTE", bytes((40, 160, 90)))
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


def animated_png(width: int = 320, height: int = 180, frames: int = 3) -> bytes:
    images = [Image.new("RGB", (width, height), (80 * i, 40, 200)) for i in range(frames)]
    buf = io.BytesIO()
    images[0].save(buf, format="PNG", save_all=True, append_images=images[1:])
    return buf.getvalue()


def turned_jpeg(width: int, height: int, orientation: int = 6) -> bytes:
    """A photo stored `width` x `height` whose EXIF says to show it turned (6: a quarter
    clockwise, so people see it `height` x `width`)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (120, 90, 60)).save(buf, format="JPEG", exif=exif)
    return buf.getvalue()


def origin(user: str = "u1", workspace: str = "w1", platform: str = "chat") -> Origin:
    return Origin(platform=platform, workspace_id=workspace, channel_id="c1", user_id=user)


@dataclass
class Post:
    job_id: str
    kind: str
    text: str = ""
    size: int = 0


@dataclass
class RecordingSurface:
    """A chat platform's side: keeps every message it was sent, like a channel history."""

    platform: str = "chat"
    progress_interval_s: float = 0.0
    limit: int | None = None
    fail_deliveries: int = 0  # how many deliver() calls fail (retryable) before one works
    fail_retry_after: float | None = None  # the Retry-After those failures carry
    refuse_deliveries: bool = False  # the thread refuses the video for good (bot removed)
    refuse_private: bool = False  # the requester cannot be sent anything privately either
    posts: list[Post] = field(default_factory=list)
    delivered: asyncio.Event = field(default_factory=asyncio.Event)
    progressed: asyncio.Event = field(default_factory=asyncio.Event)

    def upload_limit_bytes(self, job: Job) -> int | None:
        return self.limit

    def of(self, job_id: str, kind: str) -> list[Post]:
        return [p for p in self.posts if p.job_id == job_id and p.kind == kind]

    def refs(self, **ids: str) -> Refs:
        """Message ids in the structure of the platform this stands in for."""
        return load_refs(self.platform, ids)

    async def post_status(self, job: Job) -> Refs:
        self.posts.append(Post(job.id, "status"))
        return self.refs(message=f"status-{job.id}")

    async def find_status(self, job: Job) -> Refs | None:
        return self.refs(message=f"status-{job.id}") if self.of(job.id, "status") else None

    async def update_progress(self, job: Job) -> None:
        self.posts.append(Post(job.id, "progress", str(job.progress)))
        if 0 < job.progress < 100:
            self.progressed.set()

    async def find_delivery(self, job: Job) -> Refs | None:
        return self.refs(message=f"video-{job.id}") if self.of(job.id, "video") else None

    async def deliver(self, job: Job, video: Path, *, notice: str | None) -> Refs:
        if self.fail_deliveries > 0:
            self.fail_deliveries -= 1
            raise DeliveryError("platform answered 500", retry_after=self.fail_retry_after)
        if self.refuse_deliveries:
            raise DeliveryError("platform answered 403", retryable=False, user_message="Gone.")
        self.posts.append(Post(job.id, "video", notice or "", video.stat().st_size))  # noqa: ASYNC240
        self.delivered.set()
        return self.refs(message=f"video-{job.id}")

    async def deliver_link(self, job: Job, link: ResultLink, *, notice: str | None) -> Refs:
        self.posts.append(Post(job.id, "link", link.url))
        self.delivered.set()
        return self.refs(message=f"link-{job.id}")

    async def deliver_privately(
        self, job: Job, video: Path, *, link: ResultLink | None, notice: str | None
    ) -> Refs:
        # The same upload limit as the channel, as on Discord, where DMs take what servers do.
        too_large = link is None and self.limit is not None and video.stat().st_size > self.limit  # noqa: ASYNC240
        if self.refuse_private or too_large:
            raise DeliveryError("platform answered 403 to the DM", retryable=False)
        size = 0 if link is not None else video.stat().st_size  # noqa: ASYNC240
        self.posts.append(Post(job.id, "private", link.url if link else "", size))
        self.delivered.set()
        return self.refs(dm_channel=f"private-{job.id}")

    async def report_failure(self, job: Job, message: str) -> None:
        self.posts.append(Post(job.id, "failure", message))


@dataclass
class KeepingSurface(RecordingSurface):
    """A chat platform that keeps the bytes of every video posted, as a channel would."""

    videos: dict[str, list[bytes]] = field(default_factory=dict)

    async def deliver(self, job: Job, video: Path, *, notice: str | None) -> Refs:
        refs = await super().deliver(job, video, notice=notice)
        self.videos.setdefault(job.id, []).append(await asyncio.to_thread(video.read_bytes))
        return refs


@dataclass
class ScriptedJob:
    request: GenerationRequest
    readings: list[ProviderStatus | ProviderError]
    polls: int = 0


class ScriptedProvider:
    """A provider whose answers the test writes in advance: each poll pops the next reading
    (the last one repeats). `submit_errors` are raised by the first submits."""

    name = "scripted"
    poll_interval_s: float | None = None

    def __init__(
        self,
        readings: list[ProviderStatus | ProviderError] | None = None,
        *,
        idempotent_submit: bool = False,
        submit_errors: list[ProviderError] | None = None,
        video: bytes = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 1000,
    ) -> None:
        self.idempotent_submit = idempotent_submit
        self.readings = readings or [
            ProviderStatus(ProviderJobState.RUNNING, progress=50),
            ProviderStatus(ProviderJobState.SUCCEEDED, video_url="mem://video"),
        ]
        self.submit_errors = list(submit_errors or [])
        self.video = video
        self.jobs: dict[str, ScriptedJob] = {}
        self.submits: list[str] = []
        self.cancelled: list[str] = []
        self.callback_secret: str | None = None
        self.downloads = 0
        self.expired_downloads = 0  # how many downloads answer "URL expired" first
        self.submit_gate: asyncio.Event | None = None
        self.submitted = asyncio.Event()
        self.polled = asyncio.Event()

    async def submit(
        self, job_id: str, request: GenerationRequest, *, callback_url: str | None
    ) -> str:
        self.submits.append(job_id)
        self.submitted.set()
        if self.submit_gate is not None:
            await self.submit_gate.wait()
        if self.submit_errors:
            raise self.submit_errors.pop(0)
        pid = f"p-{job_id}-{len(self.submits)}"
        self.jobs[pid] = ScriptedJob(request, list(self.readings))
        return pid

    async def get_status(self, provider_job_id: str) -> ProviderStatus:
        job = self.jobs[provider_job_id]
        job.polls += 1
        self.polled.set()
        reading = job.readings.pop(0) if len(job.readings) > 1 else job.readings[0]
        if isinstance(reading, ProviderError):
            raise reading
        return reading

    async def cancel(self, provider_job_id: str) -> bool:
        self.cancelled.append(provider_job_id)
        return True

    async def verify_callback(self, headers: Mapping[str, str], body: bytes, *, now: float) -> None:
        # A provider that signs its callbacks the Standard Webhooks way, when given a secret.
        if self.callback_secret is not None:
            webhooks.verify(self.callback_secret, headers, body, now=now)

    async def health(self) -> ProviderHealth:
        return ProviderHealth(True, True)

    async def download(self, status: ProviderStatus) -> AsyncIterator[bytes]:
        self.downloads += 1
        if self.expired_downloads > 0:
            self.expired_downloads -= 1
            raise ProviderJobNotFound(detail="signed URL expired")
        for start in range(0, len(self.video), 256):
            yield self.video[start : start + 256]

    async def aclose(self) -> None:
        return None


SCRIPTED_SPEC = ModelSpec(
    provider="scripted",
    id="scripted-1",
    label="Scripted",
    durations=(4, 6, 8),
    default_duration=8,
    aspect_ratios=("16:9", "9:16"),
    resolutions=("720p",),
    inputs=frozenset({InputKind.TEXT, InputKind.FIRST_FRAME, InputKind.LAST_FRAME}),
    max_prompt_chars=100,
    # 8 s ≈ $1.20: a price to test money limits and what people read of them.
    price_usd_per_s=0.15,
    price_source="a test model",
)


class SkippingClock:
    """Wall-clock time that the test can move forward: a Retry-After of minutes is waited
    out by skipping, and the store's `due_at` shows what the bot decided to wait."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def skip(self, seconds: float) -> None:
        self.offset += seconds


def make_service(
    store: Store,
    tmp_path: Path,
    *,
    providers: dict[str, VideoProvider],
    surfaces: dict[str, ChatSurface],
    limits: QuotaLimits | None = None,
    clock: Clock | None = None,
    default_provider: str = "scripted",
    job_timeout_s: float = 600.0,
    gateway_dialect: str = "images",
    poll_interval_s: float = 0.01,
    webhook_secret: str | None = None,
    public_url: str | None = None,
    commands_per_minute: int = 0,
    vertex_extend: bool = False,
    unretired: Collection[str] = (),
    lease_s: float = 30,
    delivery_timeout_s: float = 20,
    budgets: Mapping[str, ProviderLimits] | None = None,
) -> JobService:
    """A job service over the real catalog (plus the scripted provider's model). The retired
    models of the `unretired` providers are taken as live: their adapters are kept, and
    tested, for the day their API comes back."""
    specs = [
        replace(spec, retired_on=None) if spec.provider in unretired else spec
        for spec in default_catalog(gateway_dialect, vertex_extend=vertex_extend).specs()
    ]
    clock = clock or SystemClock()
    return JobService(
        store=store,
        catalog=Catalog((*specs, SCRIPTED_SPEC)),
        providers=providers,
        surfaces=surfaces,
        config=ServiceConfig(
            default_provider=default_provider,
            limits=limits
            or QuotaLimits(user_daily_s=1000, user_concurrent=100, workspace_monthly_s=0),
            work_dir=tmp_path / "downloads",
            poll_interval_s=poll_interval_s,
            job_timeout_s=job_timeout_s,
            backoff_cap_s=0.05,
            lease_s=lease_s,
            commands_per_minute=commands_per_minute,
            delivery_timeout_s=delivery_timeout_s,
            budgets=budgets or {},
        ),
        clock=clock,
        rng=random.Random(7),
        links=MediaLinks(public_url, webhook_secret, clock) if webhook_secret else None,
    )


VEO_BOT = Path(sys.executable).parent / "veo-bot"
_OUR_PREFIXES = (
    "VEO_",
    "DISCORD_",
    "SLACK_",
    "USEAPI_",
    "GATEWAY_",
    "AIMLAPI_",
    "GEMINI_",
    "VERTEX_",
    "GCS_",
    "FAL_",
    "REPLICATE_",
    "OPENROUTER_",
    "GOOGLE_APPLICATION_CREDENTIALS",
)


def cli_env(**env: str) -> dict[str, str]:
    """The environment for a `veo-bot` subprocess: its own database in its working directory
    and only the variables given (none of the developer's)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(_OUR_PREFIXES)}
    environ.update(
        # Relative, as people write them: they resolve against the working directory.
        VEO_DATABASE_URL="sqlite:///veo.db",
        VEO_DATA_DIR="data",
        VEO_POLL_INTERVAL_S="0.05",
    )
    environ.update(env)
    return environ


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the installed `veo-bot` command in `tmp_path` and wait for it."""
    environ = cli_env(**env)
    return subprocess.run(  # noqa: PLW1510 - callers assert on the code
        [str(VEO_BOT), *args],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def noisy_mp4(path: Path, *, seconds: int = 2, audio: bool = True) -> int:
    """A hard-to-compress source: random pixels at high quality, with a sine tone."""
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=24)
        video.width, video.height, video.pix_fmt = 320, 180, "yuv420p"
        video.options = {"crf": "12", "preset": "ultrafast"}
        sound = out.add_stream("aac", rate=48_000) if audio else None
        for index in range(seconds * 24):
            image = Image.frombytes("RGB", (320, 180), os.urandom(320 * 180 * 3))
            frame = av.VideoFrame.from_image(image)
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            samples = 1024
            for block in range(seconds * 48_000 // samples):
                tone = [
                    math.sin(2 * math.pi * 440 * (block * samples + i) / 48_000) * 0.3
                    for i in range(samples)
                ]
                data = array.array("f", tone).tobytes()
                frame = av.AudioFrame(format="flt", layout="mono", samples=samples)
                frame.planes[0].update(data)
                frame.sample_rate = 48_000
                frame.pts = block * samples
                out.mux(sound.encode(frame))
            out.mux(sound.encode(None))
    return path.stat().st_size


async def eventually(
    check: Callable[[], Awaitable[T | None]], *, timeout_s: float = 10.0, step_s: float = 0.005
) -> T:
    """Wait until `check()` returns something (a state reached by another task); fail after
    `timeout_s`. For conditions no event announces, such as a row changing in the store."""
    async with asyncio.timeout(timeout_s):
        while (value := await check()) is None:  # noqa: ASYNC110 - the store has no event
            await asyncio.sleep(step_s)
    return value


def png_size(data: bytes) -> tuple[int, int]:
    """A PNG's width and height from its header; fails on anything that is not a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR", "a PNG without its header chunk first"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


async def seed_completions(store: Store, took: tuple[float, ...]) -> None:
    """Earlier videos of the scripted model (asked elsewhere), each done in `took` seconds."""
    now = time.time() - 3600
    for n, seconds in enumerate(took):
        job = Job(
            id=f"e{n}",
            origin=origin(user=f"earlier{n}"),
            request=GenerationRequest(prompt="earlier", duration_s=8),
            provider="scripted",
            model="scripted-1",
            state=JobState.PENDING,
            created_at=now,
            updated_at=now,
            deadline_at=now + 600,
            cost_s=8,
        )
        await store.create_job(job, [], QuotaLimits(1000, 100, 0), period_at(now))
        await store.transition(job.id, (JobState.PENDING,), JobState.SUBMITTED, now=now)
        await store.transition(job.id, (JobState.SUBMITTED,), JobState.SUCCEEDED, now=now + seconds)
