"""How fast the local preview renderer makes an 8 s 720p clip, in each of its three modes."""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

from adapters.providers._render import RenderSpec, render_mp4

DEMO = Path(__file__).resolve().parent.parent / "demo"


def run() -> list[tuple[str, str, str]]:
    first = (DEMO / "first-frame.jpg").read_bytes()
    last = (DEMO / "last-frame.jpg").read_bytes()
    modes: dict[str, tuple[bytes | None, bytes | None]] = {
        "text only": (None, None),
        "first frame": (first, None),
        "first + last frame": (first, last),
    }
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, (first_frame, last_frame) in modes.items():
            out = Path(folder) / "clip.mp4"
            spec = RenderSpec(
                1280,
                720,
                8,
                seed=7,
                prompt="harbour at dawn",
                first_frame=first_frame,
                last_frame=last_frame,
            )
            start = time.perf_counter()
            render_mp4(spec, out)
            seconds = time.perf_counter() - start
            frames = round(spec.duration_s * spec.fps)
            rows.append(
                (
                    f"render 8 s 720p, {name}",
                    f"{seconds:.2f} s ({frames / seconds:.0f} frames/s, "
                    f"{out.stat().st_size / 1e6:.2f} MB)",
                    "faster than real time (< 8 s)",
                )
            )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append(("render peak RSS (process)", f"{peak_mb:.0f} MB", "-"))
    return rows
