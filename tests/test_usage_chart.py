"""The usage chart and the money in `veo-bot usage`: spend per day and per person drawn as a
real PNG, the CLI's table, CSV and chart, and matplotlib kept out of the bot's start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot import i18n, money, usage_chart
from bot.errors import InvalidRequest
from bot.models import DailySpend, GenerationRequest, JobState
from bot.ports import LedgerAction
from storage import open_store
from tests.support import (
    RecordingSurface,
    ScriptedProvider,
    make_service,
    origin,
    png_size,
    run_cli,
)

REPO = Path(__file__).resolve().parent.parent


def test_the_chart_is_a_png_of_the_expected_size_whoever_spent() -> None:
    spends = [
        DailySpend("2026-12-01", "discord:1:alice", 1_200_000),
        DailySpend("2026-12-01", "discord:1:bob", 600_000),
        DailySpend("2026-12-31", "discord:1:alice", 2_400_000),
    ] + [DailySpend("2026-12-02", f"slack:T1:U{n}", 100_000) for n in range(12)]
    png = usage_chart.render("2026-12", spends, money.Currency.of("EUR", "0.9"))
    assert png_size(png) == (1000, 500)
    assert png_size(usage_chart.render("2026-02", [], money.Currency())) == (1000, 500)


@pytest.mark.parametrize("locale", ["de", "ja"])
def test_the_chart_is_drawn_in_the_readers_language_without_missing_glyphs(locale: str) -> None:
    """Japanese needs a font that has it; without one the chart says it in English rather than
    in empty boxes (matplotlib warns of each missing glyph, and warnings fail tests)."""
    spends = [DailySpend("2026-12-01", "discord:1:alice", 1_200_000)]
    with i18n.using(locale):
        assert png_size(usage_chart.render("2026-12", spends, money.Currency())) == (1000, 500)
        assert png_size(usage_chart.render("2026-12", [], money.Currency())) == (1000, 500)


async def test_a_month_that_is_not_one_is_refused_before_anything_is_read(
    any_store: object,
) -> None:
    with pytest.raises(InvalidRequest, match="A month looks like 2026-12, not '2026-13'"):
        await usage_chart.draw(any_store, "2026-13")  # type: ignore[arg-type]


def test_matplotlib_is_not_loaded_when_the_bot_starts() -> None:
    code = (
        "import sys, bot.app, bot.cli, bot.admin, adapters.discord, adapters.slack; "
        "print('matplotlib' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


async def charge(tmp_path: Path, user: str, videos: int) -> None:
    """`videos` 8 s videos (≈ $1.20 each) charged to console:local:`user` in the CLI's own
    database, as a finished job leaves them."""
    store = await open_store(f"sqlite:///{tmp_path / 'veo.db'}")
    try:
        service = make_service(
            store,
            tmp_path,
            providers={"scripted": ScriptedProvider()},
            surfaces={"console": RecordingSurface(platform="console")},
        )
        for _ in range(videos):
            job = await service.submit(
                GenerationRequest(prompt="a harbour", duration_s=8),
                origin(user=user, workspace="local", platform="console"),
            )
            await store.transition(
                job.id,
                (JobState.PENDING,),
                JobState.DELIVERED,
                now=service.clock.now(),
                ledger=LedgerAction.SETTLE,
            )
    finally:
        await store.close()


async def test_usage_shows_money_as_a_table_csv_and_chart_in_the_operators_currency(
    tmp_path: Path,
) -> None:
    await charge(tmp_path, "alice", 2)
    await charge(tmp_path, "bob", 1)

    table = run_cli(tmp_path, "usage")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["user", "jobs", "seconds", "in", "flight", "spent", "refunded"]
    assert lines[1].split() == ["console:local:alice", "2", "16", "0", "$2.40", "0"]
    assert lines[-1] == "total: 24 s ≈ $3.60"
    euros = run_cli(tmp_path, "usage", VEO_CURRENCY="EUR", VEO_CURRENCY_RATE="0.5")
    assert "€1.20" in euros.stdout and "total: 24 s ≈ €1.80" in euros.stdout

    csv = run_cli(tmp_path, "usage", "--csv")
    assert csv.stdout.splitlines()[:2] == [
        "user,workspace,jobs,settled_s,in_flight_s,refunded_jobs,settled_usd,in_flight_usd",
        "console:local:alice,console:local,2,16,0,0,2.4,0",
    ]

    drawn = run_cli(tmp_path, "usage", "--png", "chart.png")
    assert drawn.returncode == 0, drawn.stderr
    assert drawn.stdout.startswith("chart of 20") and "written to chart.png" in drawn.stdout
    assert png_size((tmp_path / "chart.png").read_bytes()) == (1000, 500)

    bad = run_cli(tmp_path, "usage", "--png", "other.png", "--month", "2026-13")
    assert (bad.returncode, bad.stderr.strip()) == (
        2,
        "veo-bot: A month looks like 2026-12, not '2026-13'.",
    )
    assert not (tmp_path / "other.png").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--daily-usd", "nan"), "daily-usd must be an amount from 0 to 1,000,000 US dollars"),
        (("--daily-usd", "-1"), "daily-usd must be an amount from 0 to 1,000,000 US dollars"),
        (("--monthly-usd", "inf"), "monthly-usd must be an amount from 0 to 1,000,000 US"),
        (("--daily-usd", "ten"), "daily-usd takes an amount in US dollars, like 10.50"),
    ],
)
def test_money_limits_that_are_not_sane_amounts_are_refused_and_change_nothing(
    tmp_path: Path, args: tuple[str, str], message: str
) -> None:
    result = run_cli(tmp_path, "quota", "set", "--workspace", "console:local", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert run_cli(tmp_path, "quota", "show").stdout == ""


def test_the_operator_sets_money_limits_and_a_bad_currency_stops_the_cli(tmp_path: Path) -> None:
    done = run_cli(
        tmp_path,
        "quota",
        "set",
        "--workspace",
        "console:local",
        "--daily-usd",
        "2.5",
        "--monthly-usd",
        "100",
    )
    assert done.returncode == 0, done.stderr
    assert run_cli(tmp_path, "quota", "show").stdout == (
        "workspace console:local: daily-usd 2.5, monthly-usd 100\n"
    )
    user = run_cli(tmp_path, "quota", "set", "--user", "console:local:a", "--monthly-usd", "5")
    assert "The monthly limit belongs to a workspace, not a user." in user.stderr

    bad = run_cli(tmp_path, "usage", VEO_CURRENCY="EUR")
    assert bad.returncode == 4
    assert "VEO_CURRENCY_RATE" in bad.stderr and "never looks rates up" in bad.stderr
    bad = run_cli(tmp_path, "usage", VEO_CURRENCY="XYZ", VEO_CURRENCY_RATE="2")
    assert bad.returncode == 4 and "'XYZ' is not an ISO 4217 currency code" in bad.stderr
