"""The terminal surface used by `veo-bot try`: a progress bar on a terminal, plain lines
otherwise, and the finished MP4 saved into the output folder.

A console job's "channel" is its output folder, so a process that resumes the job after a
crash knows where the video goes; the file name is derived from the job alone, which makes
`find_delivery` a plain existence check.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from pathlib import Path
from typing import TextIO

from bot import i18n, texts
from bot.i18n import _
from bot.models import Job, JobState, Origin, ResultLink
from bot.refs import ConsoleRefs

PLATFORM = "console"
_BAR_WIDTH = 30


def console_origin(out_dir: Path, user: str) -> Origin:
    """Where a job run from the terminal comes from: this user, answers written into `out_dir`."""
    return Origin(
        platform=PLATFORM, workspace_id="local", channel_id=str(out_dir.resolve()), user_id=user
    )


def _slug(text: str, limit: int = 40) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return words[:limit].rstrip("-") or "video"


def result_path(job: Job) -> Path:
    """Where the finished video of a terminal job is written: its folder, named after the prompt."""
    return Path(job.origin.channel_id) / f"{_slug(job.request.prompt)}-{job.id}.mp4"


def _describe(job: Job) -> str:
    req = job.request
    parts = [f"{job.model}", i18n.seconds(req.duration_s or 0), f"{req.aspect_ratio}"]
    if req.seed is not None:
        parts.append(_("seed {seed}").format(seed=req.seed))
    if req.first_frame is not None:
        parts.append(_("from image") if req.last_frame is None else _("first+last frame"))
    return ", ".join(parts)


class ConsoleSurface:
    """The terminal as a chat surface for `veo-bot try`: progress on stderr, the MP4 in a folder."""

    platform = PLATFORM
    progress_interval_s = 0.2

    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None) -> None:
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty() if tty is None else tty
        self._last_step: dict[str, tuple[int, int | None]] = {}

    def upload_limit_bytes(self, job: Job) -> int | None:
        """None: a folder on disk takes a video of any size."""
        return None

    def _line(self, text: str) -> None:
        if self._tty:
            self._stream.write("\r\x1b[2K")
        self._stream.write(text + "\n")
        self._stream.flush()

    async def post_status(self, job: Job) -> ConsoleRefs:
        """Print that the job was accepted; its refs name the job, as a card would."""
        self._line(f"job {job.id}: {_describe(job)}")
        return ConsoleRefs(card=job.id)

    async def find_status(self, job: Job) -> ConsoleRefs | None:
        """Always None: printing the line again costs nothing."""
        return None  # a terminal line costs nothing to print again

    async def update_progress(self, job: Job) -> None:
        """Show the job's progress: a redrawn bar on a terminal, one line per step elsewhere."""
        notes = [
            note
            for note in (
                texts.queue_place(job) if job.state is JobState.QUEUED else texts.queue_note(job),
                texts.usual_time(job),
            )
            if note is not None
        ]
        where = f" ({'; '.join(notes)})" if notes else ""
        if self._tty:
            filled = round(_BAR_WIDTH * job.progress / 100)
            bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
            self._stream.write(f"\r\x1b[2K[{bar}] {job.progress:3d}%  {job.state}{where}")
            self._stream.flush()
            return
        # Plain output: one line per tenth, or when the place in the provider's queue changes.
        step = (job.progress // 10, job.queue_position)
        if self._last_step.get(job.id) != step:
            self._last_step[job.id] = step
            self._stream.write(f"job {job.id}: {job.state} {job.progress}%{where}\n")
            self._stream.flush()

    async def find_delivery(self, job: Job) -> ConsoleRefs | None:
        """The video already written for this job (a crash before it was recorded), or None."""
        path = result_path(job)
        return ConsoleRefs(path=str(path)) if path.exists() else None

    async def deliver(self, job: Job, video: Path, *, notice: str | None) -> ConsoleRefs:
        """Move the finished video into the job's folder and say where it is."""
        dest = result_path(job)
        await asyncio.to_thread(_place, video, dest)
        self._last_step.pop(job.id, None)
        self._line(
            _("job {job}: done ({notice})").format(job=job.id, notice=notice)
            if notice
            else _("job {job}: done").format(job=job.id)
        )
        return ConsoleRefs(path=str(dest))

    async def deliver_link(self, job: Job, link: ResultLink, *, notice: str | None) -> ConsoleRefs:
        """Print the link to the video (the core never needs this for a terminal)."""
        # A terminal has no upload limit, so this is never called by the core; kept for the
        # contract.
        self._last_step.pop(job.id, None)
        self._line(_("job {job}: done, at {url}").format(job=job.id, url=link.url))
        return ConsoleRefs(url=link.url)

    async def deliver_privately(
        self, job: Job, video: Path, *, link: ResultLink | None, notice: str | None
    ) -> ConsoleRefs:
        """The same as `deliver`: a terminal is private already."""
        # A terminal is private already: the same as a delivery (never needed by the core,
        # as a folder that cannot be written to is not a refusal by anyone).
        return await self.deliver(job, video, notice=notice)

    async def report_failure(self, job: Job, message: str) -> None:
        """Print why the job failed, in the words people are shown."""
        self._last_step.pop(job.id, None)
        self._line(f"job {job.id}: {message}")


def _place(video: Path, dest: Path) -> None:
    """Copy into place atomically: a half-copied file must never look delivered."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    shutil.copyfile(video, part)
    os.replace(part, dest)
