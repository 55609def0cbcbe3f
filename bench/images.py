"""Image memory: what one attached picture costs from intake (`load_image`) to the frame the
local renderer draws from (`_decode`, for a 720p clip), as peak RSS over the process's
baseline, each case in a fresh process. The 86 KB palette PNG of 9,400 x 9,400 pixels is the
decompression bomb of issue 12; 8,192 x 4,882 is the largest picture accepted (40 MP)."""

from __future__ import annotations

import functools
import gc
from multiprocessing.connection import Connection

from adapters.providers._render import _decode
from bench._harness import RssSampler, in_child
from bot.errors import InvalidRequest
from bot.media import load_image
from tests.support import palette_png

SOURCE_SIZE = (1472, 828)  # a 1280 x 720 frame with the camera's margin
CASES = {
    "9,400 x 9,400 palette PNG, intake + render": (9400, 9400, True),
    "9,400 x 9,400 palette PNG, render alone": (9400, 9400, False),
    "8,192 x 4,882 palette PNG (40 MP), intake + render": (8192, 4882, True),
}


def _case(width: int, height: int, intake: bool) -> tuple[str, float]:
    data = palette_png(width, height)
    gc.collect()
    with RssSampler() as sampler:
        baseline = sampler.peak_mb
        outcome = "decoded"
        try:
            if intake:
                load_image(data, filename="image.png")
            _decode(data, "first frame", SOURCE_SIZE)
        except InvalidRequest:
            outcome = "refused at intake"
        except ValueError:
            outcome = "refused by the renderer"
    return outcome, sampler.peak_mb - baseline


async def _child(width: int, height: int, intake: bool, conn: Connection) -> None:
    conn.send(_case(width, height, intake))


def run() -> list[tuple[str, str, str]]:
    rows = []
    for name, (width, height, intake) in CASES.items():
        outcome, peak_mb = in_child(functools.partial(_child, width, height, intake))
        rows.append((f"image {name}", f"{outcome}, peak +{peak_mb:.0f} MB", "< 250 MB"))
    return rows


if __name__ == "__main__":
    for row in run():
        print(*row, sep="  |  ")
