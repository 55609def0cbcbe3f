"""Attached images are judged by their bytes, not their names."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.errors import InvalidRequest
from bot.media import load_image, sniff_image_mime
from tests.support import png_bytes


def encoded(fmt: str, size: tuple[int, int] = (200, 100)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")]
)
def test_png_jpeg_and_webp_are_recognised_by_magic_bytes(fmt: str, mime: str) -> None:
    data = encoded(fmt)
    assert sniff_image_mime(data) == mime
    image = load_image(data, filename="whatever.txt")
    assert (image.mime, image.width, image.height) == (mime, 200, 100)


def test_a_gif_named_png_is_refused() -> None:
    with pytest.raises(InvalidRequest, match=r"cat\.png is not a PNG, JPEG or WebP image"):
        load_image(encoded("GIF"), filename="cat.png")


def test_html_is_not_an_image() -> None:
    with pytest.raises(InvalidRequest, match="not a PNG, JPEG or WebP"):
        load_image(b"<!DOCTYPE html><html>Sign in to Slack</html>")


def test_a_truncated_png_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="damaged"):
        load_image(png_bytes()[:60])


def test_size_shape_and_emptiness_are_checked() -> None:
    with pytest.raises(InvalidRequest, match="is empty"):
        load_image(b"")
    with pytest.raises(InvalidRequest, match=r"at most 0 MB|images may be at most"):
        load_image(png_bytes(), max_bytes=100)
    with pytest.raises(InvalidRequest, match="between 1:4 and 4:1"):
        load_image(png_bytes(900, 200))
    with pytest.raises(InvalidRequest, match="at least 64 pixels"):
        load_image(png_bytes(40, 40))
    assert load_image(png_bytes(800, 200)).width == 800  # exactly 4:1 is fine
