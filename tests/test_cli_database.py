"""`veo-bot` on either database, as people run it (a real subprocess): `migrate` says what it
did, `try` and `jobs` work the same on SQLite and PostgreSQL, and a database it cannot use is
one clear line that never shows a password."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from pathlib import Path

from storage import is_postgres
from storage import postgres as pg_storage
from storage import sqlite as sqlite_storage
from tests.support import run_cli


async def veo(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_cli, tmp_path, *args, **env)


async def test_migrate_applies_what_is_missing_once_and_says_so(
    tmp_path: Path, database_url: str
) -> None:
    module = pg_storage if is_postgres(database_url) else sqlite_storage
    names = [name for _, name, _ in module.migrations()]
    engine = "PostgreSQL" if is_postgres(database_url) else "SQLite"

    first = await veo(tmp_path, "migrate", VEO_DATABASE_URL=database_url)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[:-1] == [f"applied {name}" for name in names]
    assert lines[-1].startswith(f"{engine} database ")
    assert lines[-1].endswith(f": now at schema version {len(names)}")

    again = await veo(tmp_path, "migrate", VEO_DATABASE_URL=database_url)
    assert again.returncode == 0, again.stderr
    assert again.stdout.endswith(f": already at schema version {len(names)}, nothing to apply\n")
    assert again.stdout.count("\n") == 1


async def test_try_makes_a_video_and_jobs_lists_it_on_either_database(
    tmp_path: Path, database_url: str
) -> None:
    made = await veo(
        tmp_path,
        *("try", "a heron at dusk", "--model", "local-draft", "--duration", "2"),
        VEO_DATABASE_URL=database_url,
    )
    assert made.returncode == 0, made.stderr
    video = Path(made.stdout.strip().splitlines()[-1])
    assert (await asyncio.to_thread(video.read_bytes))[4:8] == b"ftyp"
    listing = await veo(tmp_path, "jobs", VEO_DATABASE_URL=database_url)
    assert listing.returncode == 0, listing.stderr
    assert "delivered" in listing.stdout and "a heron at dusk" in listing.stdout


def test_a_database_url_of_another_kind_is_refused_without_its_value(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "jobs", VEO_DATABASE_URL="mysql://root:hunter2@db/veo")
    assert result.returncode == 4
    assert "VEO_DATABASE_URL" in result.stderr and "postgresql://" in result.stderr
    assert "hunter2" not in result.stderr


def test_a_postgresql_server_that_does_not_answer_is_one_line_without_the_password(
    tmp_path: Path,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://veo:hunter2@127.0.0.1:{port}/veo"
    for command in ("jobs", "migrate", "try"):
        args = (command, "a heron") if command == "try" else (command,)
        result = run_cli(tmp_path, *args, VEO_DATABASE_URL=url)
        assert result.returncode == 4, result.stderr
        [line] = result.stderr.strip().splitlines()
        assert line.startswith(
            f"veo-bot: cannot open the database at postgresql://veo:***@127.0.0.1:{port}/veo: "
        )
        assert "hunter2" not in result.stderr + result.stdout


async def test_a_schema_that_cannot_be_migrated_is_one_clear_line(
    tmp_path: Path, postgres_url: str
) -> None:
    # search_path names a schema nobody created: nothing can be created in it.
    missing = postgres_url.replace("search_path=", "search_path=veo_nowhere_")
    for command in ("migrate", "jobs"):
        result = await veo(tmp_path, command, VEO_DATABASE_URL=missing)
        assert result.returncode == 4, result.stderr
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("veo-bot: cannot migrate the database at postgresql://")
        assert line.endswith("no schema has been selected to create in")
