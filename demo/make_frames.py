"""Draws the two demo frames (a harbour at night and at dawn) so the repo needs no stock photos.

Run once: python demo/make_frames.py; the JPEGs it writes are committed.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

SIZE = (1280, 720)


def lerp(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    r, g, bl = (round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
    return (r, g, bl)


def harbour(
    sky_top: tuple[int, int, int], sky_low: tuple[int, int, int], sun_y: int, light_on: bool
) -> Image.Image:
    width, height = SIZE
    img = Image.new("RGB", SIZE)
    draw = ImageDraw.Draw(img)
    horizon = int(height * 0.62)
    for y in range(horizon):
        draw.line([(0, y), (width, y)], fill=lerp(sky_top, sky_low, y / horizon))
    draw.ellipse([880, sun_y, 1000, sun_y + 120], fill=(255, 214, 150))
    for y in range(horizon, height):
        t = (y - horizon) / (height - horizon)
        draw.line(
            [(0, y), (width, y)], fill=lerp(lerp(sky_low, (10, 30, 60), 0.55), (5, 15, 35), t)
        )
    hills = [
        (0, horizon),
        (180, horizon - 70),
        (420, horizon - 30),
        (640, horizon - 95),
        (900, horizon - 40),
        (1280, horizon - 80),
        (1280, horizon),
    ]
    draw.polygon(hills, fill=lerp(sky_top, (15, 20, 30), 0.7))
    draw.rectangle([250, horizon - 230, 290, horizon], fill=(235, 235, 228))
    for stripe in range(3):
        top = horizon - 200 + stripe * 60
        draw.rectangle([250, top, 290, top + 25], fill=(190, 40, 40))
    draw.polygon(
        [(240, horizon - 230), (300, horizon - 230), (270, horizon - 275)], fill=(60, 60, 70)
    )
    if light_on:
        draw.polygon(
            [(270, horizon - 250), (0, horizon - 330), (0, horizon - 190)], fill=(255, 240, 170)
        )
    img = img.filter(ImageFilter.GaussianBlur(1.2))
    return img


def main() -> None:
    here = Path(__file__).parent
    night = harbour((12, 18, 48), (70, 60, 110), sun_y=700, light_on=True)
    dawn = harbour((90, 150, 220), (255, 170, 110), sun_y=330, light_on=False)
    night.save(here / "first-frame.jpg", quality=85)
    dawn.save(here / "last-frame.jpg", quality=85)


if __name__ == "__main__":
    main()
