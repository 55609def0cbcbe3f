"""Moving a finished video from the provider to the chat: streamed to disk with a size cap,
never held whole, and re-encoded to fit the destination's upload limit.

Provider bytes are opened as MP4 and nothing else: left to probe, FFmpeg takes a text file
that starts `ffconcat version 1.0` (or an HLS playlist) for a list of other files to read,
and would re-encode whatever files beside it that list names."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator
from fractions import Fraction
from pathlib import Path

import av

from bot.errors import ProviderError
from bot.i18n import N_


class ResultTooLarge(ProviderError):
    """The finished video is larger than the bot accepts (VEO_MAX_RESULT_BYTES)."""

    default_message = N_("The finished video is larger than the bot accepts.")
    default_code = "result_too_large"


async def download_to_file(chunks: AsyncIterator[bytes], dest: Path, *, max_bytes: int) -> int:
    """Write the streamed bytes to `dest` (via a sibling .part file); return the size. The
    stream is closed however this ends (a deadline included), not left to the collector."""
    part = dest.with_name(dest.name + ".part")
    size = 0
    try:
        with part.open("wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise ResultTooLarge(detail=f"over {max_bytes} bytes")
                await asyncio.to_thread(out.write, chunk)
        os.replace(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()
    return size


class CannotFit(Exception):
    """The video cannot be made small enough for the destination."""


class FitStopped(Exception):
    """`fit_to_limit` was told to stop (the delivery ran out of time); nothing was kept."""


# Every provider veo-bot speaks to delivers MP4 (ISO BMFF); FFmpeg's demuxer for it is "mov,mp4,…".
CONTAINER = "mp4"


_AUDIO_BPS = 96_000
_MIN_HEIGHT = 240
_MIN_BITS_PER_PIXEL = 0.035  # below this H.264 turns to mush; shrink the frame instead
_CONTAINER_MARGIN = 0.92  # MP4 boxes and rate-control overshoot


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def fit_to_limit(
    source: Path,
    dest: Path,
    limit_bytes: int,
    *,
    attempts: int = 3,
    stop: threading.Event | None = None,
) -> int:
    """Re-encode `source` (H.264, plus AAC when it has sound) so that it fits in `limit_bytes`;
    write it to `dest` and return its size. Blocking: run it in a worker thread. Setting
    `stop` makes it give up between two packets (`FitStopped`), leaving nothing behind."""
    try:
        return _fit(source, dest, limit_bytes, attempts, stop or threading.Event())
    except av.FFmpegError as exc:
        raise CannotFit(f"{source.name} could not be re-encoded: {exc}") from exc


def _fit(source: Path, dest: Path, limit_bytes: int, attempts: int, stop: threading.Event) -> int:
    with av.open(str(source), format=CONTAINER) as probe:
        if not probe.streams.video:
            raise CannotFit(f"{source.name} has no video stream")
        video = probe.streams.video[0]
        duration = float(probe.duration or 0) / av.time_base or 1.0
        width, height = video.width, video.height
        fps = float(video.average_rate or 24)
        has_audio = bool(probe.streams.audio)
    audio_bps = _AUDIO_BPS if has_audio else 0
    video_bps = limit_bytes * 8 * _CONTAINER_MARGIN / duration - audio_bps
    part = dest.with_name(dest.name + ".part")
    try:
        for _ in range(attempts):
            if video_bps < 50_000:
                break
            scale = 1.0
            while (
                video_bps / (width * scale * height * scale * fps) < _MIN_BITS_PER_PIXEL
                and height * scale * 0.75 >= _MIN_HEIGHT
            ):
                scale *= 0.75
            _transcode(
                source,
                part,
                int(video_bps),
                _even(width * scale),
                _even(height * scale),
                stop=stop,
            )
            size = part.stat().st_size
            if size <= limit_bytes:
                os.replace(part, dest)
                return size
            video_bps *= 0.9 * limit_bytes / size
    finally:
        part.unlink(missing_ok=True)
    raise CannotFit(f"{source.name} does not fit in {limit_bytes} bytes")


def _transcode(
    source: Path, dest: Path, video_bps: int, width: int, height: int, *, stop: threading.Event
) -> None:
    with (
        av.open(str(source), format=CONTAINER) as inp,
        av.open(str(dest), "w", format="mp4") as out,
    ):
        in_video = inp.streams.video[0]
        rate = in_video.average_rate or Fraction(24)
        out_video = out.add_stream("libx264", rate=rate)
        out_video.width, out_video.height, out_video.pix_fmt = width, height, "yuv420p"
        out_video.bit_rate = video_bps
        out_video.options = {
            "preset": "veryfast",
            "maxrate": str(video_bps),
            "bufsize": str(video_bps * 2),
        }
        in_audio = inp.streams.audio[0] if inp.streams.audio else None
        out_audio = None
        resampler = None
        if in_audio is not None:
            out_audio = out.add_stream("aac", rate=48_000)
            out_audio.bit_rate = _AUDIO_BPS
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=48_000)
        streams = [s for s in (in_video, in_audio) if s is not None]
        for packet in inp.demux(*streams):
            if stop.is_set():
                raise FitStopped(f"{source.name}: stopped while re-encoding")
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame):
                    scaled = frame.reformat(width=width, height=height, format="yuv420p")
                    scaled.pts, scaled.time_base = frame.pts, frame.time_base
                    out.mux(out_video.encode(scaled))
                elif isinstance(frame, av.AudioFrame) and out_audio and resampler:
                    for chunk in resampler.resample(frame):
                        chunk.pts = None
                        out.mux(out_audio.encode(chunk))
        out.mux(out_video.encode(None))
        if out_audio is not None and resampler is not None:
            for chunk in resampler.resample(None):
                chunk.pts = None
                out.mux(out_audio.encode(chunk))
            out.mux(out_audio.encode(None))
