"""`veo-bot channel …` as the operator runs it: rules set at the terminal steer `veo-bot try`
(whose channel is its output folder), and bad values change nothing."""

from __future__ import annotations

from pathlib import Path

import av

from tests.support import run_cli

WS = ("--workspace", "console:local")


def _veo(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    result = run_cli(tmp_path, *args)
    return result.returncode, result.stdout, result.stderr


def test_channel_rules_from_the_cli_steer_try(tmp_path: Path) -> None:
    out = str((tmp_path / "out").resolve())  # `try`'s channel: the folder it writes to
    code, said, err = _veo(
        tmp_path,
        "channel",
        "set",
        out,
        *WS,
        "--model",
        "local/local-draft",
        "--aspect",
        "9:16",
        "--daily",
        "3",
        "--people",
        "dont_allow",
    )
    assert code == 0, err
    assert said == f"#{out}: model local/local-draft, aspect 9:16, 3 s a day, people dont_allow.\n"

    # The channel's 3 s a day: a 4 s video is refused, a 2 s one made with its defaults.
    code, _, err = _veo(tmp_path, "try", "a kite", "--duration", "4")
    assert code == 3 and "this channel has 3 s of its 3 s for today left" in err
    code, made, err = _veo(tmp_path, "try", "a kite", "--duration", "2")
    assert code == 0, err
    with av.open(made.strip().splitlines()[-1]) as video:
        stream = video.streams.video[0]
        assert (stream.width, stream.height) == (360, 640)  # local-draft at 9:16

    code, said, _ = _veo(tmp_path, "channel", "show", out, *WS)
    assert said.endswith("Today: 2 s of 3 s used.\n")

    assert _veo(tmp_path, "channel", "close", "all", *WS)[1] == (
        "Every channel is closed but those you allow one by one. /veo works in no channel.\n"
    )
    code, _, err = _veo(tmp_path, "try", "a kite", "--duration", "1", "--model", "local-draft")
    assert code == 3 and "/veo is switched off in every channel here." in err
    code, said, _ = _veo(tmp_path, "channel", "allow", out, *WS)
    assert said == f"#{out} is open to /veo. /veo works only in #{out}.\n"
    code, listed, _ = _veo(tmp_path, "channel", "list", *WS)
    assert listed.splitlines() == [
        f"/veo works only in #{out}.",
        f"#{out}: model local/local-draft, aspect 9:16, 3 s a day, people dont_allow.",
    ]
    code, said, _ = _veo(tmp_path, "channel", "reset", out, *WS, "--only", "daily", "people")
    assert said == f"Forgot daily, people for #{out}.\n"


def test_bad_channel_values_from_the_cli_change_nothing(tmp_path: Path) -> None:
    attempts = [
        (["set", "all", *WS, "--daily", "nan"], "daily must be a number from 0"),
        (["set", "all", *WS, "--daily", "-1"], "daily must be a number from 0"),
        (["set", "c1", *WS, "--aspect", "4:3"], "makes videos in 16:9, 9:16, 1:1, not 4:3."),
        (["set", "c1", *WS, "--model", "veo9"], "local has no model called 'veo9'"),
        (["set", "c1", *WS, "--people", "all"], "people takes allow_adult, dont_allow"),
        (["set", "c1", *WS, "--private", "maybe"], "private takes on or off, not 'maybe'"),
        (["set", "c1", "--workspace", "local"], "A workspace looks like slack:T0123"),
        (["reset", "c1", *WS, "--only", "colour"], "no channel setting called 'colour'"),
        (["allow", *WS], "Name the channel to allow"),
    ]
    for args, message in attempts:
        code, _, err = _veo(tmp_path, "channel", *args)
        assert code == 2 and message in err, (args, err)
    assert _veo(tmp_path, "channel", "list", *WS)[1] == (
        "/veo works in every channel in this workspace.\n"
    )
