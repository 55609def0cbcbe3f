"""`veo-bot try --count N` (issue 18, variants): N takes, N files, all charged together."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.support import run_cli


def test_try_with_count_two_writes_two_files_and_prints_both_paths(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path,
        "try",
        "a kite over the dunes",
        "--model",
        "local-draft",
        "--duration",
        "2",
        "--seed",
        "7",
        "--count",
        "2",
        "--out",
        "videos",
    )
    assert result.returncode == 0, result.stderr
    paths = [Path(line) for line in result.stdout.strip().splitlines()]
    assert len(paths) == 2 and paths[0] != paths[1]
    for path in paths:
        assert path.parent == (tmp_path / "videos").resolve()
        assert path.is_file() and path.stat().st_size > 0
    with sqlite3.connect(tmp_path / "veo.db") as db:
        rows = db.execute(
            "SELECT id, group_id, take, request_json FROM jobs ORDER BY take"
        ).fetchall()
        ledger = db.execute("SELECT seconds, status FROM quota_ledger").fetchall()
    assert [row[2] for row in rows] == [0, 1]
    assert rows[0][1] == rows[1][1] == rows[0][0]  # one group, named after the first take
    assert '"seed":7' in rows[0][3] and '"seed":8' in rows[1][3]  # take i: seed + i
    assert sorted(ledger) == [(2.0, "settled"), (2.0, "settled")]


@pytest.mark.parametrize(
    ("count", "message"),
    [
        ("0", "Ask for 1 to 4 videos at once, not 0."),
        ("5", "Ask for 1 to 4 videos at once, not 5."),
        ("two", "The number of videos must be a whole number from 1 to 4."),
    ],
)
def test_a_count_out_of_range_is_refused_plainly_and_changes_nothing(
    tmp_path: Path, count: str, message: str
) -> None:
    result = run_cli(tmp_path, "try", "a kite", "--model", "local-draft", "--count", count)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "no jobs yet" in run_cli(tmp_path, "jobs").stdout


def test_takes_that_do_not_all_fit_are_refused_together_saying_how_many_would(
    tmp_path: Path,
) -> None:
    result = run_cli(
        tmp_path,
        "try",
        "a kite",
        "--model",
        "local-draft",
        "--duration",
        "2",
        "--count",
        "4",
        VEO_QUOTA_USER_DAILY_S="5",
    )
    assert result.returncode == 3
    assert "4 videos do not fit, but 2 would" in result.stderr, result.stderr
    assert "no jobs yet" in run_cli(tmp_path, "jobs").stdout
