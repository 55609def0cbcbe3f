from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest

from bot.settings import Settings
from storage import open_store
from storage.sqlite import SqliteStore

if TYPE_CHECKING:
    from storage import AnyStore

_OUR_VARS = re.compile(
    r"^(DISCORD|SLACK|VEO|USEAPI|GATEWAY|AIMLAPI|GEMINI|VERTEX|GCS|FAL|REPLICATE|OPENROUTER)_"
    r"|^GOOGLE_APPLICATION_CREDENTIALS$"
    # The terminal's language picks the CLI's (`bot.cli.cli_locale`): English unless a test
    # sets one.
    r"|^(LC_ALL|LC_MESSAGES|LANG|LANGUAGE)$"
)


# The PostgreSQL the tests use, read before any test cleans the environment: a server where
# each test gets a schema of its own. Unreachable, its tests skip, unless CI requires them.
POSTGRES_URL = os.environ.get("VEO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("VEO_TEST_REQUIRE_POSTGRES", "") not in ("", "0")
STORE_ENGINE = os.environ.get("VEO_TEST_STORE", "sqlite")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's configuration: our variables are removed and the working
    directory (where `.env` is read) is a fresh temporary one."""
    for name in list(os.environ):
        if _OUR_VARS.match(name):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        veo_database_url=f"sqlite:///{tmp_path / 'veo.db'}",
        veo_data_dir=tmp_path / "data",
        veo_poll_interval_s=0.02,
        veo_http_host="127.0.0.1",
        veo_http_port=0,
    )


@pytest.fixture
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database most tests run on: SQLite, or PostgreSQL under VEO_TEST_STORE=postgres
    (`make test-postgres`, which runs the job service's tests on PostgreSQL too)."""
    if STORE_ENGINE == "postgres" and request.node.get_closest_marker("sqlite_only") is None:
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'veo.db'}"


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SqliteStore]:
    opened = await open_store(store_url)
    # Typed as SQLite's for the tests that reach its extras; both stores offer the same ones.
    yield opened  # type: ignore[misc]
    await opened.close()


# Whether the test server answered, asked once per session: None when it does, else why not.
_postgres_problem: dict[str, str | None] = {}


async def _postgres_answers() -> str | None:
    if POSTGRES_URL not in _postgres_problem:
        try:
            db = await asyncpg.connect(POSTGRES_URL, timeout=5)
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            _postgres_problem[POSTGRES_URL] = f"{type(exc).__name__}: {exc}"
        else:
            await db.close()
            _postgres_problem[POSTGRES_URL] = None
    return _postgres_problem[POSTGRES_URL]


def _unreachable(problem: str) -> str:
    return (
        f"PostgreSQL is not reachable at {POSTGRES_URL} ({problem}); start it "
        "(pg_ctlcluster --skip-systemctl-redirect 15 main start) or point "
        "VEO_TEST_POSTGRES_URL at one"
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say once, at the end, why the PostgreSQL tests were skipped."""
    problem = _postgres_problem.get(POSTGRES_URL)
    if problem is not None and not REQUIRE_POSTGRES:
        skipped = sum(
            "PostgreSQL is not reachable" in str(report.longrepr)
            for report in terminalreporter.stats.get("skipped", [])
        )
        terminalreporter.write_line(
            f"{skipped} PostgreSQL tests skipped: {_unreachable(problem)}", yellow=True
        )


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A URL to an empty schema of this test's own on the test server, dropped afterwards:
    tests never see each other's rows, and a process started by the test can use the URL as
    it is. Skips when no PostgreSQL answers, or fails under VEO_TEST_REQUIRE_POSTGRES=1."""
    problem = await _postgres_answers()
    if problem is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(f"{_unreachable(problem)}. VEO_TEST_REQUIRE_POSTGRES is set: an error.")
        pytest.skip(_unreachable(problem))
    schema = f"veo_test_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
        yield f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}search_path={schema}"
    finally:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of each engine, as VEO_DATABASE_URL names it."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'veo.db'}"


@pytest.fixture
async def any_store(database_url: str) -> AsyncIterator[AnyStore]:
    """The store on each engine: the contract holds on both."""
    opened = await open_store(database_url)
    yield opened
    await opened.close()
