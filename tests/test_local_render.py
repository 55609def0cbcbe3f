"""The preview renderer writes real H.264 MP4s that follow the spec."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image, ImageChops, ImageStat

from adapters.providers._render import RenderCancelled, RenderSpec, render_mp4
from tests.support import palette_png


def solid(
    color: tuple[int, int, int], size: tuple[int, int] = (400, 300), fmt: str = "PNG"
) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=fmt)
    return buf.getvalue()


def frames(path: Path) -> list[Image.Image]:
    with av.open(str(path)) as container:
        return [frame.to_image() for frame in container.decode(video=0)]


def mean(image: Image.Image) -> tuple[float, ...]:
    return tuple(ImageStat.Stat(image).mean)


@pytest.mark.parametrize(("width", "height"), [(320, 180), (180, 320), (240, 240)])
def test_the_clip_has_the_asked_size_rate_length_and_codec(
    tmp_path: Path, width: int, height: int
) -> None:
    out = tmp_path / "clip.mp4"
    render_mp4(RenderSpec(width, height, 2, seed=1, prompt="waves"), out)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
        assert (stream.width, stream.height) == (width, height)
        assert stream.average_rate == 24
        assert float(container.duration or 0) / av.time_base == pytest.approx(2, abs=1 / 24)
    assert len(frames(out)) == 48


def test_a_real_720p_frame_size_works(tmp_path: Path) -> None:
    out = tmp_path / "hd.mp4"
    render_mp4(RenderSpec(1280, 720, 1, seed=3, prompt="x", first_frame=solid((0, 90, 0))), out)
    [first, *_] = frames(out)
    assert first.size == (1280, 720)


def test_first_to_last_frame_goes_from_one_image_to_the_other(tmp_path: Path) -> None:
    out = tmp_path / "blend.mp4"
    spec = RenderSpec(
        320,
        180,
        2,
        seed=5,
        prompt="red to blue",
        first_frame=solid((220, 20, 20), fmt="JPEG"),
        last_frame=solid((20, 20, 220), (300, 500)),
    )
    render_mp4(spec, out)
    video = frames(out)
    r0, _, b0 = mean(video[0])
    r1, _, b1 = mean(video[-1])
    assert r0 > 180 and b0 < 60
    assert b1 > 180 and r1 < 60
    _, _, b_mid = mean(video[len(video) // 2])
    assert 60 < b_mid < 180  # half-way through the dissolve


def test_a_last_frame_alone_opens_on_a_scene_and_ends_on_the_image(tmp_path: Path) -> None:
    out = tmp_path / "last.mp4"
    render_mp4(RenderSpec(320, 180, 1, seed=2, prompt="x", last_frame=solid((20, 20, 220))), out)
    video = frames(out)
    assert difference(video[0], video[-1]) > 20
    r1, _, b1 = mean(video[-1])
    assert b1 > 180 and r1 < 60


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    stored = Image.new("RGB", (300, 200), (220, 20, 20))
    stored.paste((20, 20, 220), (150, 0, 300, 200))  # red left, blue right as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise: red on top, blue below
    buf = io.BytesIO()
    stored.save(buf, format="JPEG", exif=exif)
    out = tmp_path / "turned.mp4"
    render_mp4(RenderSpec(240, 240, 1, seed=1, prompt="x", first_frame=buf.getvalue()), out)
    first = frames(out)[0]
    top, bottom = first.crop((0, 0, 240, 60)), first.crop((0, 180, 240, 240))
    assert mean(top)[0] > 180 and mean(top)[2] < 60
    assert mean(bottom)[2] > 180 and mean(bottom)[0] < 60


def test_the_camera_moves_over_a_still_image(tmp_path: Path) -> None:
    picture = Image.new("RGB", (400, 300))
    picture.paste((255, 255, 255), (0, 0, 200, 300))  # half white, half black: motion shows
    buf = io.BytesIO()
    picture.save(buf, format="PNG")
    out = tmp_path / "pan.mp4"
    render_mp4(RenderSpec(320, 180, 2, seed=11, prompt="x", first_frame=buf.getvalue()), out)
    video = frames(out)
    assert video[0].tobytes() != video[-1].tobytes()


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel, 0..255 (encoding noise stays well under 2)."""
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


def test_text_only_scenes_move_and_follow_prompt_and_seed(tmp_path: Path) -> None:
    def render(prompt: str, seed: int, name: str) -> list[Image.Image]:
        out = tmp_path / name
        render_mp4(RenderSpec(160, 90, 1, seed=seed, prompt=prompt), out)
        return frames(out)

    fox = render("a fox in snow", 1, "a.mp4")
    assert difference(fox[0], fox[-1]) > 5
    again = render("a fox in snow", 1, "b.mp4")
    # Drawing is exact, but x264 is not bit-exact run to run at every size: allow coding noise.
    assert all(difference(x, y) < 2 for x, y in zip(fox, again, strict=True))
    assert difference(render("a fox in snow", 2, "c.mp4")[0], fox[0]) > 5
    assert difference(render("a whale at night", 1, "d.mp4")[0], fox[0]) > 5


def test_prompts_in_any_script_render(tmp_path: Path) -> None:
    out = tmp_path / "u.mp4"
    render_mp4(RenderSpec(160, 90, 1, seed=1, prompt="über 東京 🌸 " * 20), out)
    assert out.stat().st_size > 0


def test_progress_is_reported_in_order_up_to_one(tmp_path: Path) -> None:
    seen: list[float] = []
    render_mp4(RenderSpec(160, 90, 1, seed=1, prompt="x"), tmp_path / "p.mp4", progress=seen.append)
    assert seen == sorted(seen)
    assert seen[-1] == 1.0 and len(seen) >= 20


def test_a_cancelled_render_leaves_nothing_behind(tmp_path: Path) -> None:
    cancel = threading.Event()
    out = tmp_path / "c.mp4"

    def stop_half_way(fraction: float) -> None:
        if fraction > 0.5:
            cancel.set()

    with pytest.raises(RenderCancelled):
        render_mp4(
            RenderSpec(160, 90, 2, seed=1, prompt="x"), out, progress=stop_half_way, cancel=cancel
        )
    assert list(tmp_path.iterdir()) == []


def test_a_failure_mid_render_leaves_nothing_behind(tmp_path: Path) -> None:
    def fail_half_way(fraction: float) -> None:
        if fraction > 0.5:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        render_mp4(
            RenderSpec(160, 90, 1, seed=1, prompt="x"), tmp_path / "f.mp4", progress=fail_half_way
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.timeout(20)
def test_a_failure_while_finishing_the_file_is_raised_not_hung_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_container = av.open

    class FullDisk:
        """An output container whose writes fail once the last frame's packets are in."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.container = open_container(*args, **kwargs)
            self.writes = 0

        def __enter__(self) -> FullDisk:
            return self

        def __exit__(self, *exc: object) -> None:
            self.container.close()

        def add_stream(self, *args: Any, **kwargs: Any) -> Any:
            return self.container.add_stream(*args, **kwargs)

        def mux(self, packets: Any) -> None:
            self.writes += 1
            if self.writes > 24:  # the flush after 24 frames
                raise OSError("No space left on device")
            self.container.mux(packets)

    monkeypatch.setattr(av, "open", FullDisk)
    with pytest.raises(OSError, match="No space left"):
        render_mp4(RenderSpec(160, 90, 1, seed=1, prompt="x"), tmp_path / "full.mp4")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "size_and_time",
    [
        (161, 90, 1.0, 24),
        (160, 0, 1.0, 24),
        (160, 90, 0.0, 24),
        (160, 90, float("nan"), 24),
        (160, 90, 1.0, 0),
    ],
)
def test_impossible_specs_are_refused(size_and_time: tuple[int, int, float, int]) -> None:
    width, height, duration, fps = size_and_time
    with pytest.raises(ValueError, match=r"frame size|cannot render"):
        RenderSpec(width, height, duration, seed=1, prompt="x", fps=fps)


def test_transparent_images_and_garbage(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.new("RGBA", (200, 200), (0, 0, 0, 0)).save(buf, format="PNG")
    out = tmp_path / "t.mp4"
    render_mp4(RenderSpec(160, 90, 1, seed=1, prompt="x", first_frame=buf.getvalue()), out)
    assert mean(frames(out)[0])[0] == pytest.approx(128, abs=6)  # neutral grey, not black
    with pytest.raises(ValueError, match="first frame is not a readable image"):
        render_mp4(
            RenderSpec(160, 90, 1, seed=1, prompt="x", first_frame=b"nope"), tmp_path / "g.mp4"
        )
    with pytest.raises(ValueError, match="last frame is not a readable image"):
        render_mp4(RenderSpec(160, 90, 1, seed=1, prompt="x", last_frame=b""), tmp_path / "g.mp4")
    assert not (tmp_path / "g.mp4").exists()


def test_an_image_past_the_bounds_is_refused_before_it_is_decoded(tmp_path: Path) -> None:
    # A job stored before intake bounded images (or by a bot that did not) still cannot make
    # the renderer decode a picture wider than 8,192 pixels.
    wide = palette_png(8200, 2100)
    with pytest.raises(ValueError, match="first frame has more pixels than images may have"):
        render_mp4(RenderSpec(160, 90, 1, seed=1, prompt="x", first_frame=wide), tmp_path / "w.mp4")
    assert not (tmp_path / "w.mp4").exists()


def test_a_large_palette_image_is_drawn_from_a_reduced_copy(tmp_path: Path) -> None:
    out = tmp_path / "p.mp4"
    render_mp4(RenderSpec(160, 90, 1, seed=1, prompt="x", first_frame=palette_png(4000, 2250)), out)
    assert mean(frames(out)[0]) == pytest.approx((40, 160, 90), abs=8)  # its one colour
