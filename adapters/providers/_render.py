"""The embedded preview renderer behind the `local` provider: slow camera motion over an
image, a dissolve to the last frame, or a drifting scene of its own for text-only prompts.

Pure and synchronous (the provider runs it in a worker thread); Pillow draws, PyAV encodes
H.264 / yuv420p into MP4. Frames are drawn deterministically from (prompt, seed, images);
x264 itself is not bit-exact run to run at every frame size, so files may differ by coding noise.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import random
import threading
import unicodedata
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps, UnidentifiedImageError

from bot.media import MAX_IMAGE_PIXELS, MAX_SIDE_PX, orientation_of

_MARGIN = 1.15  # the source is prepared this much larger than the frame: room to zoom and pan
_ZOOM = 0.12  # the camera pushes in by 12% over the clip
_PAN = 0.8  # share of the spare margin the pan travels
_AHEAD = 6  # frames drawn ahead of the encoder: enough to keep it busy, little memory


@dataclass(frozen=True)
class RenderSpec:
    width: int
    height: int
    duration_s: float
    seed: int
    prompt: str
    first_frame: bytes | None = None
    last_frame: bytes | None = None
    fps: int = 24

    def __post_init__(self) -> None:
        # Caught here with a clear message rather than deep inside x264 (4:2:0 needs even sides).
        if self.width <= 0 or self.height <= 0 or self.width % 2 or self.height % 2:
            raise ValueError(
                f"frame size must be positive and even, not {self.width}x{self.height}"
            )
        if self.fps <= 0 or not (0 < self.duration_s < math.inf):
            raise ValueError(f"cannot render {self.duration_s} s at {self.fps} frames/s")


class RenderCancelled(Exception):
    """The render was stopped before it finished; nothing was written at the output path."""


def _ease(t: float) -> float:
    """Smoothstep: motion that starts and ends gently."""
    return t * t * (3 - 2 * t)


# EXIF orientation -> the turn that shows the stored pixels upright.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_GREY = (128, 128, 128)


def _decode(data: bytes, label: str, size: tuple[int, int]) -> Image.Image:
    """The image in RGB and upright, decoded once and at once brought down to the smallest
    scale that still covers `size` either way up: everything after works on that, so a large
    picture costs its one decode and one conversion, not a full-size copy per step."""
    side = max(size)
    try:
        # Not closed: closing discards the pixels, and the bytes are ours, not a file.
        raw = Image.open(io.BytesIO(data))
        if max(raw.size) > MAX_SIDE_PX or raw.width * raw.height > MAX_IMAGE_PIXELS:
            raise ValueError(f"the {label} has more pixels than images may have")
        # JPEG decodes at 1/2, 1/4 or 1/8 scale when that still covers `side` either way.
        raw.draft(raw.mode, (side, side))
        raw.load()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError(f"the {label} is not a readable image") from exc
    image = _opaque(raw)
    factor = min(image.width, image.height) // side
    if factor > 1:
        image = image.reduce(factor)
    turn = _UPRIGHT.get(orientation_of(raw))
    return image.transpose(turn) if turn is not None else image


def _opaque(image: Image.Image) -> Image.Image:
    """RGB, with transparent areas over a neutral grey rather than black."""
    if not image.has_transparency_data:
        return image if image.mode == "RGB" else image.convert("RGB")
    rgba = image if image.mode == "RGBA" else image.convert("RGBA")
    flat = Image.new("RGB", rgba.size, _GREY)
    flat.paste(rgba, mask=rgba)
    return flat


def _cover(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale and crop to fill width x height exactly, keeping the centre; no bars, no stretch."""
    return ImageOps.fit(image, (width, height), Image.Resampling.LANCZOS)


class _Camera:
    """Where the camera looks at time t: a window over the enlarged source."""

    def __init__(self, width: int, height: int, seed: int) -> None:
        self.width, self.height = width, height
        self.source_size = (math.ceil(width * _MARGIN), math.ceil(height * _MARGIN))
        rng = random.Random(seed)
        angle = rng.uniform(0, 2 * math.pi)
        self.direction = (math.cos(angle), math.sin(angle))

    def window(self, t: float) -> tuple[float, float, float, float]:
        eased = _ease(t)
        zoom = 1.0 + _ZOOM * eased
        sw, sh = self.source_size
        w, h = self.width / zoom, self.height / zoom
        spare_x, spare_y = (sw - w) / 2, (sh - h) / 2
        shift = (eased - 0.5) * _PAN
        cx = sw / 2 + self.direction[0] * spare_x * shift
        cy = sh / 2 + self.direction[1] * spare_y * shift
        return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)

    def shoot(self, source: Image.Image, t: float) -> Image.Image:
        return source.resize(
            (self.width, self.height), Image.Resampling.BILINEAR, box=self.window(t)
        )


class _Scene:
    """A moving scene of its own for text-only prompts: a gradient sky whose colours drift,
    two layers of soft lights sliding at different speeds (parallax), and the prompt."""

    def __init__(self, width: int, height: int, prompt: str, seed: int) -> None:
        self.width, self.height = width, height
        digest = hashlib.sha256(f"{seed}:{prompt}".encode()).digest()
        rng = random.Random(digest)
        palette = [tuple(rng.randrange(30, 230) for _ in range(3)) for _ in range(4)]
        self.sky_a = self._gradient(palette[0], palette[1])
        self.sky_b = self._gradient(palette[2], palette[3])
        self.near = self._lights(rng, count=7, radius=(0.08, 0.16), blur=0.03, travel=0.45)
        self.far = self._lights(rng, count=14, radius=(0.02, 0.06), blur=0.015, travel=0.2)
        self.near_forward = rng.random() < 0.5
        self.caption = self._caption(prompt)

    def _gradient(self, top: tuple[int, ...], bottom: tuple[int, ...]) -> Image.Image:
        column = Image.new("RGB", (1, 256))
        column.putdata(
            [
                tuple(round(a + (b - a) * y / 255) for a, b in zip(top, bottom, strict=True))
                for y in range(256)
            ]
        )
        return column.resize((self.width, self.height), Image.Resampling.BILINEAR)

    def _lights(
        self,
        rng: random.Random,
        *,
        count: int,
        radius: tuple[float, float],
        blur: float,
        travel: float,
    ) -> tuple[Image.Image, Image.Image]:
        """A strip wider than the frame with soft glowing discs: their colours and coverage."""
        side = min(self.width, self.height)
        size = (round(self.width * (1 + travel)), self.height)
        discs = [
            (
                rng.uniform(*radius) * side,
                rng.uniform(0, size[0]),
                rng.uniform(0, self.height),
                tuple(rng.randrange(150, 256) for _ in range(3)),
                rng.randrange(60, 140),
            )
            for _ in range(count)
        ]
        colours = Image.new("RGB", size)
        coverage = Image.new("L", size, 0)
        paint, mask = ImageDraw.Draw(colours), ImageDraw.Draw(coverage)
        # Colour reaches past each disc's edge so the blurred rim fades to it, not to black.
        reach = 3 * blur * side
        for r, x, y, colour, _ in discs:
            paint.ellipse((x - r - reach, y - r - reach, x + r + reach, y + r + reach), colour)
        for r, x, y, colour, alpha in discs:
            paint.ellipse((x - r, y - r, x + r, y + r), colour)
            mask.ellipse((x - r, y - r, x + r, y + r), alpha)
        return colours, coverage.filter(ImageFilter.GaussianBlur(blur * side))

    def _caption(self, prompt: str) -> tuple[Image.Image, tuple[int, int]] | None:
        """The prompt in small type near the bottom, cropped to its ink, and where it goes."""
        # The built-in font covers ASCII only: fold accents ("über" -> "uber"), drop the rest.
        folded = unicodedata.normalize("NFKD", prompt).encode("ascii", "ignore").decode()
        text = " ".join(folded.split())
        if not text:
            return None
        text = text if len(text) <= 60 else text[:57] + "..."
        size = max(12, self.height // 28)
        try:
            font = ImageFont.load_default(size=size)
            bounds = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), text, font=font)
            layer = Image.new("RGBA", (self.width, self.height), (0, 0, 0, 0))
            draw = ImageDraw.Draw(layer)
            x = (self.width - (bounds[2] - bounds[0])) // 2
            y = self.height - size * 3
            draw.text((x + 1, y + 1), text, font=font, fill=(0, 0, 0, 150))
            draw.text((x, y), text, font=font, fill=(255, 255, 255, 210))
        except (ImportError, OSError, UnicodeError, ValueError):
            return None  # a font that cannot draw the prompt: the scene goes on without it
        ink = layer.getbbox()
        if ink is None:
            return None
        return layer.crop(ink), (ink[0], ink[1])

    def frame(self, t: float) -> Image.Image:
        image = Image.blend(self.sky_a, self.sky_b, _ease(t))
        for (colours, coverage), forward in ((self.far, True), (self.near, self.near_forward)):
            offset = round((colours.width - self.width) * (t if forward else 1 - t))
            image.paste(colours, (-offset, 0), coverage)
        if self.caption is not None:
            caption, position = self.caption
            image.paste(caption, position, caption)
        return image


def render_mp4(
    spec: RenderSpec,
    out_path: Path,
    *,
    progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Render the clip to `out_path` (written whole or not at all)."""
    width, height = spec.width, spec.height
    camera = _Camera(width, height, spec.seed)
    size = camera.source_size
    first = (
        _cover(_decode(spec.first_frame, "first frame", size), *size)
        if spec.first_frame is not None
        else None
    )
    last = (
        _cover(_decode(spec.last_frame, "last frame", size), *size)
        if spec.last_frame is not None
        else None
    )
    scene = _Scene(width, height, spec.prompt, spec.seed) if first is None else None
    total = max(1, round(spec.duration_s * spec.fps))

    def draw(index: int) -> Image.Image:
        t = index / (total - 1) if total > 1 else 1.0
        if first is not None:
            # The camera is linear, so dissolving the sources first costs one resize, not two.
            source = Image.blend(first, last, _ease(t)) if last is not None else first
            return camera.shoot(source, t)
        assert scene is not None
        image = scene.frame(t)
        if last is not None:
            image = Image.blend(image, camera.shoot(last, t), _ease(t))
        return image

    part = out_path.with_name(out_path.name + ".part")
    try:
        _encode(part, spec, total, draw, progress=progress, cancel=cancel)
        os.replace(part, out_path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    if progress is not None:
        progress(1.0)


def _encode(
    path: Path,
    spec: RenderSpec,
    total: int,
    draw: Callable[[int], Image.Image],
    *,
    progress: Callable[[float], None] | None,
    cancel: threading.Event | None,
) -> None:
    """A worker thread draws frames ahead while this one converts and encodes them in order:
    Pillow, swscale and x264 release the GIL, so the two cores work at once."""
    time_base = Fraction(1, spec.fps)

    with (
        ThreadPoolExecutor(1, thread_name_prefix="veo-render") as pool,
        av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as out,
    ):
        stream = out.add_stream("libx264", rate=spec.fps)
        stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
        # One x264 thread: the drawing thread has the other core.
        stream.options = {"crf": "23", "preset": "veryfast", "threads": "1"}
        ahead: deque[Future[Image.Image]] = deque(
            pool.submit(draw, index) for index in range(min(total, _AHEAD))
        )
        try:
            for index in range(total):
                if cancel is not None and cancel.is_set():
                    raise RenderCancelled
                image = ahead.popleft().result()
                if index + _AHEAD < total:
                    ahead.append(pool.submit(draw, index + _AHEAD))
                # One swscale thread: the other core is drawing; more threads only add overhead.
                frame = av.VideoFrame.from_image(image).reformat(format="yuv420p", threads=1)
                frame.pts, frame.time_base = index, time_base
                out.mux(stream.encode(frame))
                if progress is not None:
                    progress((index + 1) / total * 0.99)
            out.mux(stream.encode(None))
        finally:
            for future in ahead:  # an early exit does not wait for frames nobody will encode
                future.cancel()
