"""Money: the catalog's prices, each job's cost, money limits in admission (on both engines,
exact across connections), what admins may set, and how money reads in the operator's
currency."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pydantic import ValidationError

from adapters.providers import default_catalog
from adapters.slack._markup import SLACK
from bot import checkup, money, texts
from bot.admin import AdminActions, Subject
from bot.clock import ManualClock
from bot.errors import InvalidRequest, QuotaExceeded
from bot.jobs import JobService
from bot.models import (
    Actor,
    DailySpend,
    GenerationRequest,
    JobState,
    ProviderJobState,
    ProviderStatus,
    QuotaLimits,
)
from bot.ports import LedgerAction
from bot.quota import (
    PRICE_UNKNOWN,
    USER_DAILY,
    USER_DAILY_USD,
    WORKSPACE_MONTHLY_USD,
    period_at,
)
from bot.settings import Settings
from storage import open_store
from tests.support import SCRIPTED_SPEC, RecordingSurface, ScriptedProvider, make_service, origin

if TYPE_CHECKING:
    from storage import AnyStore

EIGHT = GenerationRequest(prompt="a lighthouse at dusk", duration_s=8)  # 8 s ≈ $1.20
NOW = datetime(2026, 12, 4, 18, 0, tzinfo=UTC).timestamp()
DOLLAR = money.MICRO


def limits(*, daily_usd: str = "0", monthly_usd: str = "0", daily_s: float = 1000) -> QuotaLimits:
    return QuotaLimits(
        user_daily_s=daily_s,
        user_concurrent=1000,
        workspace_monthly_s=0,
        user_daily_micro_usd=money.parse_usd("daily", daily_usd),
        workspace_monthly_micro_usd=money.parse_usd("monthly", monthly_usd),
    )


def service_for(store: AnyStore, tmp_path: Path, quota: QuotaLimits) -> JobService:
    return make_service(
        store,
        tmp_path,
        providers={"scripted": ScriptedProvider()},
        surfaces={"chat": RecordingSurface()},
        limits=quota,
        clock=ManualClock(NOW),
    )


# --- the catalog's prices -----------------------------------------------------------------


def test_prices_follow_sound_and_resolution_and_unverified_ones_stay_unknown() -> None:
    catalog = default_catalog()
    fast = catalog.get("fal", "fal-ai/veo3.1/fast")
    assert fast.price_micro_usd(8) == 800_000  # $0.10 a second
    assert fast.price_micro_usd(8, audio=True) == 1_200_000  # $0.15 with sound
    assert fast.price_micro_usd(8, audio=True, resolution="4k") == 2_800_000  # $0.35
    lite = catalog.get("fal", "fal-ai/veo3.1/lite")
    assert lite.price_micro_usd(8, audio=True) == 400_000  # sound included
    assert lite.price_micro_usd(8, resolution="1080p") == 640_000
    omni = catalog.get("gemini", "gemini-omni-1.1-flash")
    assert omni.price_micro_usd(10, resolution="360p") == 300_000
    assert catalog.get("vertex", "veo-3.1-generate-001").price_micro_usd(6, audio=True) == 2_400_000
    assert catalog.get("local", "local-preview").price_micro_usd(5) == 0
    assert catalog.get("replicate", "google/veo-3.1").price_micro_usd(8) is None
    for spec in catalog.specs():
        if spec.price_usd_per_s is not None:
            assert spec.price_source, f"{spec.provider}/{spec.id} has a price without a source"


def test_amounts_people_type_are_read_exactly_and_nonsense_is_refused_plainly() -> None:
    assert money.parse_usd("daily-usd", "10.50") == 10_500_000
    assert money.parse_usd("daily-usd", "$3") == 3_000_000
    assert money.parse_usd("daily-usd", 0.1) == 100_000  # a float from a slash command
    assert money.parse_usd("daily-usd", Decimal("0.0000005")) == 1  # half a micro-dollar up
    for typed, says in (
        ("nan", "must be an amount from 0 to 1,000,000 US dollars, not nan"),
        (float("inf"), "not inf"),
        ("-1", "not -1"),
        ("1e7", "not 1e7"),
        ("ten", "takes an amount in US dollars, like 10.50, not 'ten'"),
    ):
        with pytest.raises(InvalidRequest) as refused:
            money.parse_usd("daily-usd", typed)
        assert says in refused.value.user_message


def test_the_operators_currency_shows_money_at_their_fixed_rate() -> None:
    assert money.fmt(1_200_000) == "$1.20"
    assert money.fmt(None) == "price unknown"
    with money.shown_in(money.Currency.of("eur", "0.5")):
        assert money.fmt(1_200_000) == "€0.60"
        assert texts.duration_and_cost(8, 1_200_000) == "8 s ≈ €0.60"
    with money.shown_in(money.Currency.of("JPY", "150")):
        assert money.fmt(1_200_000) == "¥180"
    assert money.fmt(1_200_000) == "$1.20"  # back to the default outside
    for code, rate, says in (
        ("EUR", None, "set VEO_CURRENCY_RATE"),
        ("XYZ", "1", "not an ISO 4217 currency code"),
        ("EUR", "0", "must be a positive number"),
        ("EUR", "nan", "must be a positive number"),
    ):
        with pytest.raises(InvalidRequest) as refused:
            money.Currency.of(code, rate)
        assert says in refused.value.user_message


# --- each job's cost, and money limits in admission ------------------------------------------


async def test_each_job_records_its_cost_and_the_ledger_reserves_it(
    any_store: AnyStore, tmp_path: Path
) -> None:
    service = service_for(any_store, tmp_path, limits())
    job = await service.submit(EIGHT, origin())
    assert job.cost_micro_usd == 1_200_000
    stored = await any_store.get_job(job.id)
    assert stored is not None and stored.cost_micro_usd == 1_200_000
    (row,) = await any_store.ledger([job.id])
    assert row["micro_usd"] == 1_200_000
    usage = await service.quota_usage(origin())
    assert (usage.spent_today_micro_usd, usage.workspace_spent_month_micro_usd) == (
        1_200_000,
        1_200_000,
    )


async def test_a_daily_money_limit_refuses_saying_the_price_and_what_is_left(
    any_store: AnyStore, tmp_path: Path
) -> None:
    service = service_for(any_store, tmp_path, limits(daily_usd="3"))
    await service.submit(EIGHT, origin())
    await service.submit(EIGHT, origin())  # $2.40 of $3.00

    with pytest.raises(QuotaExceeded) as refused:
        await service.submit(EIGHT, origin())
    assert refused.value.limit == USER_DAILY_USD
    message = refused.value.user_message
    assert "This video (8 s) costs about $1.20, and you have $0.60 of $3.00 left today." in message
    assert "resets at 2026-12-05 00:00 UTC (in 6h 00m)" in message
    assert len(await any_store.recent_jobs(10)) == 2
    # 4 s ≈ $0.60 still fits; someone else has their own day.
    await service.submit(EIGHT.model_copy(update={"duration_s": 4}), origin())
    await service.submit(EIGHT, origin(user="u2"))


async def test_a_workspace_money_limit_for_the_month_spans_its_people(
    any_store: AnyStore, tmp_path: Path
) -> None:
    service = service_for(any_store, tmp_path, limits(monthly_usd="2.50"))
    await service.submit(EIGHT, origin(user="u1"))
    await service.submit(EIGHT, origin(user="u2"))
    with pytest.raises(QuotaExceeded) as refused:
        await service.submit(EIGHT, origin(user="u3"))
    assert refused.value.limit == WORKSPACE_MONTHLY_USD
    assert "this workspace has $0.10 of its $2.50 for the month left" in refused.value.user_message
    await service.submit(EIGHT, origin(user="u3", workspace="w2"))


async def test_money_given_back_by_a_failed_job_can_be_spent_again(
    any_store: AnyStore, tmp_path: Path
) -> None:
    service = service_for(any_store, tmp_path, limits(daily_usd="2.40"))
    await service.submit(EIGHT, origin())
    failed = await service.submit(EIGHT, origin())
    with pytest.raises(QuotaExceeded):
        await service.submit(EIGHT, origin())

    await service.advance(failed)
    submitted = await any_store.get_job(failed.id)
    assert submitted is not None
    await service.apply_status(submitted, ProviderStatus(ProviderJobState.FAILED))
    assert (await service.quota_usage(origin())).spent_today_micro_usd == 1_200_000
    third = await service.submit(EIGHT, origin())
    assert third.state is JobState.PENDING


async def test_a_model_of_unknown_price_is_refused_only_where_money_is_limited(
    any_store: AnyStore, tmp_path: Path
) -> None:
    unpriced = dataclasses.replace(SCRIPTED_SPEC, price_usd_per_s=None)
    free_for_all = service_for(any_store, tmp_path, limits())
    free_for_all.catalog.replace_models("scripted", [unpriced])
    job = await free_for_all.submit(EIGHT, origin())
    assert job.cost_micro_usd is None
    assert texts.job_price(job) == "price unknown"

    limited = service_for(any_store, tmp_path, limits(daily_usd="100"))
    limited.catalog.replace_models("scripted", [unpriced])
    with pytest.raises(QuotaExceeded) as refused:
        await limited.submit(EIGHT, origin(user="u2"))
    assert refused.value.limit == PRICE_UNKNOWN
    assert "This model's price is not known" in refused.value.user_message
    assert "Pick a model with a known price" in refused.value.user_message


async def test_fifty_requests_at_once_with_money_for_five_give_five_jobs(
    any_store: AnyStore, tmp_path: Path
) -> None:
    service = service_for(any_store, tmp_path, limits(daily_usd="6"))
    results = await asyncio.gather(
        *(service.submit(EIGHT, origin()) for _ in range(50)), return_exceptions=True
    )
    accepted = [r for r in results if not isinstance(r, BaseException)]
    assert len(accepted) == 5  # 5 x $1.20 = $6.00
    assert all(
        isinstance(r, QuotaExceeded) and r.limit == USER_DAILY_USD
        for r in results
        if isinstance(r, BaseException)
    )


async def test_two_stores_racing_on_one_database_never_overspend_money(
    database_url: str, tmp_path: Path
) -> None:
    """Two processes' worth of connections: the money check and its reservation stay in the
    store's one quota transaction."""
    first = await open_store(database_url)
    second = await open_store(database_url)
    try:
        a = service_for(first, tmp_path, limits(daily_usd="6"))
        b = service_for(second, tmp_path, limits(daily_usd="6"))
        results = await asyncio.gather(
            *(svc.submit(EIGHT, origin()) for _ in range(15) for svc in (a, b)),
            return_exceptions=True,
        )
        assert len([r for r in results if not isinstance(r, BaseException)]) == 5
        usage = await first.quota_usage(
            origin().user_key, origin().workspace_key, period_at(a.clock.now())
        )
        assert usage.spent_today_micro_usd == 6 * DOLLAR
    finally:
        await first.close()
        await second.close()


async def test_seconds_still_refuse_first_and_name_the_price_too(
    any_store: AnyStore, tmp_path: Path
) -> None:
    service = service_for(any_store, tmp_path, limits(daily_usd="100", daily_s=8))
    await service.submit(EIGHT, origin())
    with pytest.raises(QuotaExceeded) as refused:
        await service.submit(EIGHT, origin())
    assert refused.value.limit == USER_DAILY
    assert "This video costs 8 s (≈ $1.20) of your daily quota" in refused.value.user_message


# --- what admins set, and what people read ---------------------------------------------------


async def test_workspace_admins_set_money_limits_only_within_the_operators_caps(
    any_store: AnyStore, tmp_path: Path
) -> None:
    service = service_for(any_store, tmp_path, limits(daily_usd="5"))
    actions = AdminActions(any_store, defaults=service.config.limits, clock=service.clock)
    workspace = origin().workspace_key
    admin = Actor.workspace_admin("chat:w1:boss", workspace)
    whole = Subject.workspace(workspace)

    for typed, says in (
        ("10", "You can set daily-usd up to $5.00 a day here"),
        ("0", "daily-usd 0 means no money limit, and the bot's operator allows $5.00 a day"),
        ("nan", "must be an amount from 0 to 1,000,000 US dollars"),
    ):
        with pytest.raises(InvalidRequest) as refused:
            await actions.set_limits(admin, whole, daily_usd=typed)
        assert says in refused.value.user_message
    with pytest.raises(InvalidRequest, match="belongs to a workspace"):
        await actions.set_limits(admin, Subject.user(origin().user_key), monthly_usd="5")
    assert await any_store.limit_overrides(None, workspace) == []

    done = await actions.set_limits(admin, whole, daily_usd="2.50", monthly_usd="40")
    assert texts.admin_answer(done, SLACK) == (
        "Limits set for this workspace: $2.50 a day, $40.00 a month."
    )
    mine = await service.limits_for(origin())
    assert (mine.user_daily_micro_usd, mine.workspace_monthly_micro_usd) == (
        2_500_000,
        40_000_000,
    )
    # The operator may go higher; the workspace admin's lower word still applies.
    await actions.set_limits(Actor.operator(), whole, daily_usd="50")
    assert (await service.limits_for(origin())).user_daily_micro_usd == 2_500_000
    await actions.clear_limits(admin, whole)
    assert (await service.limits_for(origin())).user_daily_micro_usd == 50_000_000


async def test_the_quota_answer_shows_seconds_and_money_left(
    any_store: AnyStore, tmp_path: Path
) -> None:
    quota = dataclasses.replace(limits(daily_usd="10", monthly_usd="100"), user_daily_s=40)
    service = service_for(any_store, tmp_path, quota)
    for _ in range(3):
        await service.submit(EIGHT, origin())
    said = texts.quota(await service.quota_report(origin()), SLACK)
    assert "Spent today: $3.60; *$6.40* of $10.00 left today." in said
    assert "This workspace has spent $3.60 this month: $96.40 of $100.00 left." in said

    job = (await any_store.recent_jobs(1))[0]
    assert texts.job_cost(job) == "8 s ≈ $1.20"
    with money.shown_in(money.Currency.of("EUR", "0.9")):
        said = texts.quota(await service.quota_report(origin()), SLACK)
        assert "Spent today: €3.24; *€5.76* of €9.00 left today." in said


def test_veo_bot_models_lists_each_price_and_says_when_it_is_unknown() -> None:
    lines = checkup.model_lines(default_catalog(), ["fal", "replicate"], retired=False)
    fast = next(line for line in lines if line.startswith("fal/fal-ai/veo3.1/fast "))
    assert fast.endswith("; $0.10/s ($0.15 with sound) [4k $0.30]")
    assert all(line.endswith("; price unknown") for line in lines if "replicate/" in line)


async def test_the_usage_report_and_the_chart_read_money_charged_per_person_and_day(
    any_store: AnyStore, tmp_path: Path
) -> None:
    service = service_for(any_store, tmp_path, limits())
    settled = [await service.submit(EIGHT, origin(user=user)) for user in ("u1", "u1", "u2")]
    refunded = await service.submit(EIGHT, origin(user="u2"))
    pending = await service.submit(EIGHT, origin(user="u3"))
    for job, action in [(job, LedgerAction.SETTLE) for job in settled] + [
        (refunded, LedgerAction.REFUND)
    ]:
        await any_store.transition(
            job.id, (JobState.PENDING,), JobState.DELIVERED, now=NOW, ledger=action
        )

    rows = {
        row.user_key: (row.settled_micro_usd, row.reserved_micro_usd)
        for row in await any_store.usage_report("2026-12")
    }
    assert rows == {
        "chat:w1:u1": (2_400_000, 0),
        "chat:w1:u2": (1_200_000, 0),
        "chat:w1:u3": (0, 1_200_000),
    }
    assert await any_store.daily_spend("2026-12") == [
        DailySpend("2026-12-04", "chat:w1:u1", 2_400_000),
        DailySpend("2026-12-04", "chat:w1:u2", 1_200_000),
    ]
    assert await any_store.daily_spend("2026-12", "chat:elsewhere") == []
    assert await any_store.daily_spend("2026-11") == []
    assert pending.cost_micro_usd == 1_200_000


def test_the_operators_money_defaults_and_currency_come_from_the_environment() -> None:
    settings = Settings(
        _env_file=None,
        veo_quota_user_daily_usd="2.50",
        veo_quota_workspace_monthly_usd="300",
        veo_currency="chf",
        veo_currency_rate="0.88",
    )
    caps = settings.quota_limits
    assert (caps.user_daily_micro_usd, caps.workspace_monthly_micro_usd) == (
        2_500_000,
        300 * DOLLAR,
    )
    assert settings.currency == money.Currency("CHF", Decimal("0.88"))
    for bad in ({"veo_quota_user_daily_usd": "nan"}, {"veo_currency": "EUR"}):
        with pytest.raises(ValidationError):
            Settings(_env_file=None, **bad)  # type: ignore[arg-type]
