"""`veo-bot history` and `veo-bot info`: the words `/veo-history` and Info show in chat, from
the terminal, over a real database the `try` command filled."""

from __future__ import annotations

from pathlib import Path

from tests.support import run_cli


def _try(tmp_path: Path, prompt: str, *extra: str) -> str:
    made = run_cli(
        tmp_path,
        "try",
        prompt,
        "--model",
        "local-draft",
        "--duration",
        "2",
        "--user",
        "alice",
        "--seed",
        "5",
        *extra,
    )
    assert made.returncode == 0, made.stderr
    return made.stdout.strip().splitlines()[-1]


def test_history_pages_a_persons_videos_and_info_shows_a_jobs_parameters(
    tmp_path: Path,
) -> None:
    _try(tmp_path, "a lighthouse at dusk")
    path = _try(tmp_path, "a private fox", "--private", "--negative-prompt", "no snow")
    assert Path(path).is_file()  # a terminal is private already: the file as usual

    first = run_cli(tmp_path, "history", "--user", "alice", "--limit", "1")
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert "“a private fox” · private · local-draft · 2 s · done · 2 s of quota" in lines[0]
    assert "lighthouse" not in first.stdout
    assert lines[1].startswith("older: veo-bot history --user alice --before ")
    job_id = lines[0].split()[0]

    cursor = lines[1].rsplit(" ", 1)[-1]
    second = run_cli(tmp_path, "history", "--user", "alice", "--limit", "1", "--before", cursor)
    assert second.returncode == 0, second.stderr
    assert "“a lighthouse at dusk”" in second.stdout and "older:" not in second.stdout

    nobody = run_cli(tmp_path, "history", "--user", "discord:1:2")
    assert nobody.stdout.strip() == "You have not asked for any videos in this workspace yet."

    info = run_cli(tmp_path, "info", job_id)
    assert info.returncode == 0, info.stderr
    assert info.stdout.splitlines()[:6] == [
        f"Job {job_id}",
        "Model: local/local-draft",
        "Seed: 5",
        "Duration: 2 s",
        "Aspect ratio: 16:9",
        "Negative prompt: no snow",
    ]
    assert info.stdout.splitlines()[6].startswith("Provider job id: ")

    unknown = run_cli(tmp_path, "info", "nope")
    assert unknown.returncode != 0 and "there is no job nope" in unknown.stderr
