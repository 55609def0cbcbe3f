"""Checks on images people attach: real format (magic bytes), size and shape.

Everything is judged from the file's header, before a single pixel is decoded: a PNG of a few
kilobytes can describe 90 megapixels, and decoding it would cost gigabytes. The only decode an
image gets is the one the video is made from (the embedded renderer, or the provider's own).
"""

from __future__ import annotations

import io
import struct
import warnings

from PIL import Image, UnidentifiedImageError

from bot import i18n
from bot.errors import InvalidRequest
from bot.i18n import _
from bot.models import ImageInput

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000  # a 40 MP photo; any provider scales far below that anyway
MAX_SIDE_PX = 8192
MIN_SIDE_PX = 64
MAX_ASPECT = 4.0  # 1:4 .. 4:1, what every provider veo-bot speaks to accepts

_MAGIC: tuple[tuple[str, bytes, int], ...] = (
    ("image/png", b"\x89PNG\r\n\x1a\n", 0),
    ("image/jpeg", b"\xff\xd8\xff", 0),
    ("image/webp", b"WEBP", 8),
)
_ORIENTATION = 0x0112  # EXIF: how the stored pixels are to be turned for display
_QUARTER_TURNED = frozenset({5, 6, 7, 8})  # orientations that swap width and height
_MAY_ANIMATE = frozenset({"image/png", "image/webp"})  # APNG, animated WebP


def sniff_image_mime(data: bytes) -> str | None:
    """The image type the bytes really are (PNG, JPEG or WebP), whatever the name says."""
    for mime, magic, offset in _MAGIC:
        if data[offset : offset + len(magic)] == magic and (
            mime != "image/webp" or data[:4] == b"RIFF"
        ):
            return mime
    return None


def webp_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a WebP's first chunk (None when it cannot be read). Pillow's WebP
    reader allocates the whole canvas, twice, as it opens the file: the size is checked first."""
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        return (
            int.from_bytes(data[24:27], "little") + 1,
            int.from_bytes(data[27:30], "little") + 1,
        )
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _check_pixels(label: str, width: int, height: int) -> None:
    if max(width, height) > MAX_SIDE_PX:
        raise InvalidRequest(
            _(
                "{label} is {width}x{height} pixels; images may be at most {max_side_px} "
                "pixels on each side."
            ).format(label=label, width=width, height=height, max_side_px=MAX_SIDE_PX),
            field="image",
        )
    if width * height > MAX_IMAGE_PIXELS:
        raise InvalidRequest(
            _(
                "{label} is {width}x{height} pixels ({megapixels} megapixels); images may have "
                "at most {most} megapixels."
            ).format(
                label=label,
                width=width,
                height=height,
                megapixels=i18n.fixed(width * height / 1e6, 1),
                most=i18n.number(MAX_IMAGE_PIXELS / 1e6),
            ),
            field="image",
        )


def orientation_of(image: Image.Image) -> int:
    """The EXIF orientation (1 to 8) in the header already read: never decodes pixels, which
    `Image.getexif()` does for a PNG."""
    raw = image.info.get("exif")
    if not isinstance(raw, bytes):
        return 1
    exif = Image.Exif()
    try:
        exif.load(raw)
    except (OSError, SyntaxError, ValueError, struct.error):
        return 1
    value = exif.get(_ORIENTATION, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def load_image(data: bytes, *, filename: str = "", max_bytes: int = MAX_IMAGE_BYTES) -> ImageInput:
    """Check attached bytes and describe them as people see them (EXIF orientation applied);
    raises `InvalidRequest` in plain words."""
    label = filename or _("The file")
    if not data:
        raise InvalidRequest(_("{label} is empty.").format(label=label), field="image")
    if len(data) > max_bytes:
        raise InvalidRequest(
            _("{label} is {size} MB; images may be at most {most} MB.").format(
                label=label,
                size=i18n.fixed(len(data) / 1_048_576, 1),
                most=i18n.fixed(max_bytes / 1_048_576, 0),
            ),
            field="image",
        )
    mime = sniff_image_mime(data)
    if mime is None:
        raise InvalidRequest(
            _("{label} is not a PNG, JPEG or WebP image.").format(label=label), field="image"
        )
    if mime == "image/webp" and (size := webp_size(data)) is not None:
        _check_pixels(label, *size)
    try:
        with warnings.catch_warnings():
            # A decompression-bomb warning is an answer, not noise: turn it into a refusal.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:  # the header only
                width, height = img.size
                _check_pixels(label, width, height)
                frames = int(getattr(img, "n_frames", 1))
                orientation = orientation_of(img)
                img.verify()  # a PNG's chunk checksums; no pixel is decoded
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        Image.DecompressionBombWarning,
        Image.DecompressionBombError,
    ):
        raise InvalidRequest(
            _("{label} could not be read as an image; it may be damaged.").format(label=label),
            field="image",
        ) from None
    if frames > 1 and mime in _MAY_ANIMATE:
        raise InvalidRequest(
            _(
                "{label} is an animated image ({frames} frames); attach a single still picture."
            ).format(label=label, frames=frames),
            field="image",
        )
    if orientation in _QUARTER_TURNED:
        width, height = height, width  # as shown, which is what people judge by
    if min(width, height) < MIN_SIDE_PX:
        raise InvalidRequest(
            _(
                "{label} is {width}x{height} pixels; images need at least {min_side_px} "
                "pixels on each side."
            ).format(label=label, width=width, height=height, min_side_px=MIN_SIDE_PX),
            field="image",
        )
    ratio = width / height
    if ratio > MAX_ASPECT or ratio < 1 / MAX_ASPECT:
        raise InvalidRequest(
            _(
                "{label} is {width}x{height}, a shape of {ratio}:1; images must be between 1:4 "
                "and 4:1."
            ).format(label=label, width=width, height=height, ratio=i18n.fixed(ratio, 2)),
            field="image",
        )
    return ImageInput(data=data, mime=mime, width=width, height=height, filename=filename)
