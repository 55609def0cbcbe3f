"""What people typed in chat cannot steer the operator's terminal (issue 12, item 14).

A prompt or a banned term holding terminal escape sequences arrives through the fake Slack;
then the real `veo-bot` command lists it from the same database. Its output holds no control
character, only visible escapes of them."""

from __future__ import annotations

import re
from pathlib import Path

from storage.sqlite import SqliteStore
from tests.fakes.slack import TEAM_ID
from tests.slack.support import running_bot
from tests.support import run_cli

# Sets the terminal's title, rings the bell, clears the screen; then an 8-bit CSI (red), a
# carriage return that would overwrite the line, and a right-to-left override.
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x9b31m\r\u202e"
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


async def test_veo_bot_jobs_shows_escape_sequences_in_a_prompt_instead_of_obeying_them(
    store: SqliteStore, store_url: str, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        await bot.command(HOSTILE)
        job = await bot.next_job()
        assert job.request.prompt == HOSTILE  # stored as it was typed

    listing = run_cli(tmp_path, "jobs", VEO_DATABASE_URL=store_url)

    assert listing.returncode == 0, listing.stderr
    assert CONTROLS.findall(listing.stdout) == []
    [line] = [line for line in listing.stdout.splitlines() if line.startswith(job.id)]
    assert line.endswith(r"  \x1b]0;pwned\x07\x1b[2J\x9b31m\r\u202e")


async def test_veo_bot_banned_shows_a_term_with_escape_sequences_harmlessly(
    store: SqliteStore, store_url: str, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        await bot.command("admin ban \x1b]0;pwned\x07boom", user="UADMIN")
        answer = await bot.fake.wait_for(lambda: bot.fake.responses)
        assert answer[0]["text"] == "Banned in this workspace."

    listing = run_cli(
        tmp_path, "banned", "list", "--workspace", f"slack:{TEAM_ID}", VEO_DATABASE_URL=store_url
    )

    assert listing.returncode == 0, listing.stderr
    assert CONTROLS.findall(listing.stdout) == []
    assert "pwned" in listing.stdout and "boom" in listing.stdout
