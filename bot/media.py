"""Checks on images people attach: real format (magic bytes), size and shape."""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

from bot.errors import InvalidRequest
from bot.models import ImageInput

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MIN_SIDE_PX = 64
MAX_ASPECT = 4.0  # 1:4 .. 4:1, what every provider in PROVIDERS.md accepts

_MAGIC: tuple[tuple[str, bytes, int], ...] = (
    ("image/png", b"\x89PNG\r\n\x1a\n", 0),
    ("image/jpeg", b"\xff\xd8\xff", 0),
    ("image/webp", b"WEBP", 8),
)


def sniff_image_mime(data: bytes) -> str | None:
    """The image type the bytes really are (PNG, JPEG or WebP), whatever the name says."""
    for mime, magic, offset in _MAGIC:
        if data[offset : offset + len(magic)] == magic and (
            mime != "image/webp" or data[:4] == b"RIFF"
        ):
            return mime
    return None


def load_image(data: bytes, *, filename: str = "", max_bytes: int = MAX_IMAGE_BYTES) -> ImageInput:
    """Check attached bytes and describe them; raises `InvalidRequest` in plain words."""
    label = f"{filename} " if filename else "The file "
    if not data:
        raise InvalidRequest(f"{label}is empty.", field="image")
    if len(data) > max_bytes:
        raise InvalidRequest(
            f"{label}is {len(data) / 1_048_576:.1f} MB; images may be at most "
            f"{max_bytes / 1_048_576:.0f} MB.",
            field="image",
        )
    mime = sniff_image_mime(data)
    if mime is None:
        raise InvalidRequest(f"{label}is not a PNG, JPEG or WebP image.", field="image")
    try:
        with warnings.catch_warnings():
            # A decompression-bomb warning is an answer, not noise: turn it into a refusal.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                img.verify()
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        Image.DecompressionBombWarning,
        Image.DecompressionBombError,
    ):
        raise InvalidRequest(
            f"{label}could not be read as an image; it may be damaged.", field="image"
        ) from None
    if min(width, height) < MIN_SIDE_PX:
        raise InvalidRequest(
            f"{label}is {width}x{height} pixels; images need at least {MIN_SIDE_PX} pixels "
            "on each side.",
            field="image",
        )
    ratio = width / height
    if ratio > MAX_ASPECT or ratio < 1 / MAX_ASPECT:
        raise InvalidRequest(
            f"{label}is {width}x{height}, a shape of {ratio:.2f}:1; images must be between "
            "1:4 and 4:1.",
            field="image",
        )
    return ImageInput(data=data, mime=mime, width=width, height=height, filename=filename)
