"""Results are fitted to the destination's upload limit by re-encoding with PyAV."""

from __future__ import annotations

import threading
from pathlib import Path

import av
import pytest

from bot.relay import CannotFit, FitStopped, fit_to_limit
from tests.support import noisy_mp4


def describe(path: Path) -> tuple[str, str, float, list[str]]:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        return (
            video.codec_context.name,
            video.codec_context.pix_fmt or "",
            float(container.duration or 0) / av.time_base,
            [s.codec_context.name for s in container.streams.audio],
        )


@pytest.mark.parametrize("audio", [True, False])
def test_a_video_over_the_limit_is_re_encoded_under_it(tmp_path: Path, audio: bool) -> None:
    source = tmp_path / "big.mp4"
    original = noisy_mp4(source, audio=audio)
    limit = original // 5

    size = fit_to_limit(source, tmp_path / "fit.mp4", limit)

    assert size == (tmp_path / "fit.mp4").stat().st_size <= limit
    codec, pix_fmt, duration, audio_codecs = describe(tmp_path / "fit.mp4")
    assert (codec, pix_fmt) == ("h264", "yuv420p")
    assert duration == pytest.approx(2.0, abs=0.1)
    assert audio_codecs == (["aac"] if audio else [])
    assert not list(tmp_path.glob("*.part"))


def test_an_impossible_limit_is_said_plainly(tmp_path: Path) -> None:
    source = tmp_path / "big.mp4"
    noisy_mp4(source, audio=False)
    with pytest.raises(CannotFit):
        fit_to_limit(source, tmp_path / "fit.mp4", 2_000)
    assert not (tmp_path / "fit.mp4").exists()
    assert not list(tmp_path.glob("*.part"))


def test_provider_bytes_naming_other_files_are_not_followed(tmp_path: Path) -> None:
    # Another job's video beside the download, and a "result" that is an FFmpeg concat list
    # naming it: probed, FFmpeg would read the neighbour and re-encode it for this channel.
    neighbour = noisy_mp4(tmp_path / "neighbour.mp4", audio=False)
    result = tmp_path / "result.mp4"
    result.write_text("ffconcat version 1.0\nfile neighbour.mp4\n")
    with pytest.raises(CannotFit, match="could not be re-encoded"):
        fit_to_limit(result, tmp_path / "fit.mp4", neighbour // 5)
    assert not (tmp_path / "fit.mp4").exists()
    assert not list(tmp_path.glob("*.part"))


def test_a_re_encode_told_to_stop_stops_and_leaves_nothing(tmp_path: Path) -> None:
    source = tmp_path / "big.mp4"
    original = noisy_mp4(source, audio=False)
    stop = threading.Event()
    stop.set()  # the delivery's deadline passed
    with pytest.raises(FitStopped):
        fit_to_limit(source, tmp_path / "fit.mp4", original // 5, stop=stop)
    assert not (tmp_path / "fit.mp4").exists()
    assert not list(tmp_path.glob("*.part"))
