"""`veo-bot` as people run it: a real subprocess, a real database, a real MP4."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import av
import pytest

from bot.cli import main
from storage.sqlite import migrations
from tests.support import png_bytes, run_cli


def probe(path: Path) -> tuple[str, str, int, int, float, float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        duration = float(container.duration or 0) / av.time_base
        return (
            stream.codec_context.name,
            stream.codec_context.pix_fmt or "",
            stream.width,
            stream.height,
            float(stream.average_rate or 0),
            duration,
        )


def test_try_renders_a_video_and_prints_its_path(tmp_path: Path) -> None:
    (tmp_path / "first.png").write_bytes(png_bytes(400, 600, (30, 90, 200)))
    result = run_cli(
        tmp_path,
        "try",
        "a kite over the dunes",
        "--image",
        "first.png",
        "--model",
        "local-draft",
        "--duration",
        "2",
        "--aspect-ratio",
        "9:16",
        "--seed",
        "7",
        "--out",
        "videos",
    )
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.parent == (tmp_path / "videos").resolve()
    assert path.name.startswith("a-kite-over-the-dunes-") and path.suffix == ".mp4"
    codec, pix_fmt, width, height, fps, duration = probe(path)
    assert (codec, pix_fmt, width, height, fps) == ("h264", "yuv420p", 360, 640, 24)
    assert duration == pytest.approx(2.0, abs=1 / 24)
    assert "done" in result.stderr

    listing = run_cli(tmp_path, "jobs")
    assert listing.returncode == 0
    assert "delivered" in listing.stdout and "a kite over the dunes" in listing.stdout


@pytest.mark.parametrize(
    ("args", "env", "code", "message"),
    [
        (["--image", "missing.png"], {}, 2, "There is no file at missing.png."),
        (["--image", "notes.png"], {}, 2, "notes.png is not a PNG, JPEG or WebP image."),
        (["--duration", "30"], {}, 2, "local-draft makes videos of 2 to 10 seconds, not 30."),
        (["--aspect-ratio", "4:3"], {}, 2, "makes videos in 16:9, 9:16 or 1:1, not 4:3."),
        (["--model", "veo9"], {}, 2, "local has no model called 'veo9'"),
        (["--provider", "useapi"], {}, 2, "The provider 'useapi' is not set up on this bot"),
        ([], {"VEO_QUOTA_USER_DAILY_S": "1"}, 3, "you have 1 s of 1 s left today"),
    ],
)
def test_bad_input_prints_one_clear_line_and_charges_nothing(
    tmp_path: Path, args: list[str], env: dict[str, str], code: int, message: str
) -> None:
    (tmp_path / "notes.png").write_text("not really a picture", encoding="utf-8")
    result = run_cli(tmp_path, "try", "a kite", "--model", "local-draft", *args, **env)
    assert result.returncode == code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert result.stdout == ""
    assert "no jobs yet" in run_cli(tmp_path, "jobs").stdout


def test_a_prompt_too_long_is_refused(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "try", "x" * 2001)
    assert result.returncode == 2
    assert "The prompt is 2,001 characters long; local-preview takes at most 2,000" in result.stderr


def test_run_without_a_chat_platform_says_what_to_set(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "run")
    assert result.returncode == 4
    for variable in ("DISCORD_TOKEN", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        assert variable in result.stderr


def test_bad_configuration_names_the_variable_but_not_its_value(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "jobs", VEO_POLL_INTERVAL_S="-5", DISCORD_GUILD_IDS="hunter2")
    assert result.returncode == 4
    assert "VEO_POLL_INTERVAL_S" in result.stderr and "DISCORD_GUILD_IDS" in result.stderr
    assert "hunter2" not in result.stderr


def test_models_lists_the_catalog(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "models")
    assert result.returncode == 0
    assert "local/local-preview (default)" in result.stdout


def test_a_database_path_that_cannot_be_opened_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "veo.db").mkdir()
    result = run_cli(tmp_path, "jobs")
    assert result.returncode == 4
    assert result.stderr.strip() == (
        "veo-bot: cannot open the database at veo.db: unable to open database file"
    )


def test_an_unexpected_failure_shows_a_reference_not_a_traceback_line(tmp_path: Path) -> None:
    (tmp_path / "veo.db").write_bytes(b"this is not a database" * 100)
    result = run_cli(tmp_path, "jobs")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("veo-bot: Something went wrong (ref ")
    ref = last.split("(ref ")[1].split(")")[0]
    assert f"unexpected error (ref {ref})" in result.stderr  # the log has the details


def test_admins_steer_quotas_blocks_and_banned_words_from_the_cli(tmp_path: Path) -> None:
    def veo(*args: str) -> tuple[int, str, str]:
        result = run_cli(tmp_path, *args)
        return result.returncode, result.stdout, result.stderr

    assert veo("quota", "set", "--user", "console:local:alice", "--daily", "3")[0] == 0
    code, _, err = veo("try", "x", "--user", "alice", "--model", "local-draft", "--duration", "4")
    assert code == 3 and "you have 3 s of 3 s left today" in err
    assert "user console:local:alice: daily 3" in veo("quota", "show")[1]

    assert veo("quota", "block", "--user", "console:local:bob")[0] == 0
    code, _, err = veo("try", "x", "--user", "bob", "--model", "local-draft", "--duration", "2")
    assert code == 3 and "not allowed to make videos" in err

    assert veo("banned", "add", "gore", "--workspace", "console:local")[0] == 0
    code, _, err = veo("try", "So much GORE", "--user", "carol", "--model", "local-draft")
    assert code == 3 and "does not allow" in err and "gore" not in err.lower()
    assert veo("banned", "list", "--workspace", "console:local")[1] == "gore\n"

    code, out, _ = veo(
        "try", "calm sea", "--user", "carol", "--model", "local-draft", "--duration", "2"
    )
    assert code == 0
    code, out, _ = veo("usage", "--csv")
    assert out.splitlines() == [
        "user,workspace,jobs,settled_s,in_flight_s,refunded_jobs,settled_usd,in_flight_usd",
        "console:local:carol,console:local,1,2,0,0,0,0",
    ]
    assert "console:local:carol" in veo("usage")[1]
    assert veo("quota", "clear", "--user", "console:local:alice")[1] == (
        "limits cleared for user console:local:alice\n"
    )


@pytest.mark.parametrize("command", [["run"], ["try", "a kite", "--model", "local-draft"]])
@pytest.mark.parametrize("secret", ["", "guessable-but-not-empty"])
def test_a_short_webhook_secret_stops_run_and_try_naming_the_variable_not_the_value(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    secret: str,
) -> None:
    # As a `.env` line would set it (the tests' working directory is tmp_path), with a chat
    # platform configured so that nothing else stops `run`.
    (tmp_path / ".env").write_text(
        f"VEO_WEBHOOK_SECRET={secret}\nDISCORD_TOKEN=discord-token\n"
        "DISCORD_API_BASE=http://127.0.0.1:9/api/v10\n"
        f"VEO_DATABASE_URL=sqlite:///{tmp_path / 'veo.db'}\n",
        encoding="utf-8",
    )
    assert main(command) == 4
    err = capsys.readouterr().err
    assert "VEO_WEBHOOK_SECRET" in err and "at least 32 bytes" in err
    assert "guessable" not in err and "discord-token" not in err
    assert not (tmp_path / "veo.db").exists()  # refused before anything was opened


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--daily", "nan", "daily must be a number from 0 to 1,000,000 seconds, not nan."),
        ("--daily", "inf", "daily must be a number from 0 to 1,000,000 seconds, not inf."),
        ("--daily", "-1", "daily must be a number from 0 to 1,000,000 seconds, not -1."),
        ("--monthly", "1e9", "monthly must be a number from 0 to 1,000,000 seconds, not 1e+09."),
    ],
)
def test_limits_that_are_not_sane_numbers_are_refused_and_change_nothing(
    tmp_path: Path, option: str, value: str, message: str
) -> None:
    result = run_cli(tmp_path, "quota", "set", "--workspace", "console:local", option, value)
    assert result.returncode == 2
    assert result.stderr.strip() == f"veo-bot: {message}"
    shown = run_cli(tmp_path, "quota", "show")
    assert (shown.returncode, shown.stdout) == (0, "")


def test_limits_a_server_admin_set_before_the_upgrade_are_held_under_the_operators_caps(
    tmp_path: Path,
) -> None:
    # A database from before overrides said who set them, with a server admin's `daily:1e9`.
    with sqlite3.connect(tmp_path / "veo.db") as db:
        for version, _name, sql in migrations()[:3]:
            db.executescript(f"{sql}\nPRAGMA user_version = {version};")
        db.execute(
            """INSERT INTO quota_overrides (scope, subject, daily_s, updated_at)
               VALUES ('user', 'console:local:alice', 1e9, 0)"""
        )
    shown = run_cli(tmp_path, "quota", "show")
    assert shown.stdout == "user console:local:alice: daily 1e+09 (set by a workspace admin)\n"
    result = run_cli(
        tmp_path,
        *("try", "x", "--user", "alice", "--model", "local-draft", "--duration", "4"),
        VEO_QUOTA_USER_DAILY_S="2",
    )
    assert result.returncode == 3 and "you have 2 s of 2 s left today" in result.stderr


def test_a_banned_pattern_saved_before_re2_is_listed_as_not_enforced(tmp_path: Path) -> None:
    refused = run_cli(tmp_path, "banned", "add", "re:(gore)\\s+\\1", "--workspace", "console:local")
    assert refused.returncode == 2 and "RE2 has no back-references" in refused.stderr
    assert (
        run_cli(tmp_path, "banned", "add", "gore", "--workspace", "console:local").returncode == 0
    )
    with sqlite3.connect(tmp_path / "veo.db") as db:  # as an older veo-bot saved it
        db.execute(
            """INSERT INTO banned_terms (workspace_key, term, added_at)
               VALUES ('console:local', 're:(gore)\\s+\\1', 0)"""
        )
    listed = run_cli(tmp_path, "banned", "list", "--workspace", "console:local")
    assert listed.stdout == (
        "gore\nre:(gore)\\s+\\1  (not enforced: RE2 cannot run it, replace it)\n"
    )
