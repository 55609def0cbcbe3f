"""Request budgets and adaptive poll intervals, on an injected clock: the pace a budget
allows, a 429's wait and the slow-down after it, the booking calendar that spreads waiting
jobs, the operator's `VEO_BUDGET_*` values, and intervals that follow the completion times."""

from __future__ import annotations

import itertools
import random

import pytest

from adapters.providers.aimlapi import AimlapiProvider
from adapters.providers.fal import FalProvider
from adapters.providers.gateway import GatewayProvider
from adapters.providers.gemini import GeminiProvider
from adapters.providers.openrouter import OpenRouterProvider
from adapters.providers.replicate import ReplicateProvider
from adapters.providers.useapi import UseapiProvider
from adapters.providers.vertex import VertexProvider
from bot.budget import (
    MIN_FACTOR,
    RECOVERY_S,
    SAFETY,
    Budgets,
    Limit,
    Pacer,
    ProviderLimits,
    limits_from_env,
    parse_limit,
    per_minute,
)
from bot.clock import ManualClock
from bot.polling import STRAGGLER_SHARE, adaptive_delay, quantile_points


def sent_in_windows(times: list[float], window_s: float) -> int:
    most, first = 0, 0
    for last, moment in enumerate(times):
        while times[first] <= moment - window_s:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_a_burst_never_gets_more_than_the_budget_in_any_window() -> None:
    clock = ManualClock(1_000.0)
    pacer = Pacer(per_minute(600))
    rng = random.Random(3)
    sent: list[float] = []
    for _ in range(100_000):  # jobs asking at random moments, often many at once
        if pacer.take(clock.now()) == 0:
            sent.append(clock.now())
        clock.advance(rng.choice((0.0, 0.0, 0.001, 0.002, 0.005)))
    assert sent_in_windows(sent, 60.0) <= 600
    assert sent_in_windows(sent, 1.0) <= 12  # even: a second's share, and the tolerance
    # ...and under pressure the budget is used, not wasted: close to the pace it allows.
    span = sent[-1] - sent[0]
    assert len(sent) >= span / 60 * 600 * SAFETY * 0.95


def test_a_refused_take_says_how_long_to_wait_and_spends_nothing() -> None:
    pacer = Pacer(Limit(1, 2.0))  # one request every 2 s
    assert pacer.take(10.0) == 0
    wait = pacer.take(10.5)
    assert wait == pytest.approx(2.0 / SAFETY - 0.5)
    assert pacer.take(10.5 + wait) == 0


def test_a_429_waits_out_retry_after_then_slows_down_and_recovers() -> None:
    pacer = Pacer(per_minute(60))
    assert pacer.take(0.0) == 0
    pacer.throttled(0.5, retry_after_s=30.0)
    assert pacer.take(29.0) == pytest.approx(1.5)  # nothing before Retry-After
    assert pacer.take(30.5) == 0
    assert pacer.spacing_s(30.5) > pacer.limit.spacing_s * 1.5  # slower than before
    pacer.throttled(31.0, retry_after_s=None)
    pacer.throttled(31.0, retry_after_s=None)
    slowest = pacer.spacing_s(31.0)
    assert slowest > pacer.limit.spacing_s * 6
    assert pacer.spacing_s(32.0 + RECOVERY_S) == pytest.approx(pacer.limit.spacing_s)


def test_a_429_storm_never_slows_below_the_floor() -> None:
    pacer = Pacer(per_minute(60))
    for _ in range(100):
        pacer.throttled(5.0, retry_after_s=0.0)
    assert pacer.spacing_s(5.0) == pytest.approx(pacer.limit.spacing_s / MIN_FACTOR)


def test_booked_slots_spread_waiting_jobs_at_the_budgets_pace() -> None:
    pacer = Pacer(per_minute(60))
    slots = [pacer.book(100.0, 100.0) for _ in range(50)]
    assert slots == sorted(slots)
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) >= pacer.limit.spacing_s - 1e-9
    assert slots[-1] - slots[0] == pytest.approx(49 * pacer.limit.spacing_s)
    # A job wanting a later moment gets it when it is free; an earlier one still fits in.
    assert pacer.book(100.0, 500.0) == pytest.approx(500.0, abs=pacer.limit.spacing_s)
    early = pacer.book(100.0, 100.0)
    assert early < 500.0 and all(abs(early - s) >= pacer.limit.spacing_s - 1e-9 for s in slots)


def test_the_calendar_forgets_the_past() -> None:
    pacer = Pacer(per_minute(600))
    for second in range(2_000):
        pacer.book(float(second), float(second))
    assert len(pacer._full) < 20


def test_a_provider_without_a_limit_is_never_held_back() -> None:
    budgets = Budgets({"gateway": ProviderLimits(status=per_minute(60))})
    assert all(budgets.take("gateway", "submit", 0.0) == 0 for _ in range(100))
    assert all(budgets.take("scripted", "status", 0.0) == 0 for _ in range(100))
    assert budgets.book("scripted", "status", 0.0, 7.0) == 7.0
    # One on its turn and one ahead of the next (the tolerance); then the pace holds.
    assert [budgets.take("gateway", "status", 0.0) > 0 for _ in range(3)] == [False, False, True]


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("600/min", Limit(600, 60.0)),
        ("10/s", Limit(10, 1.0)),
        (" 3000 / minute ", Limit(3000, 60.0)),
        ("100/h", Limit(100, 3600.0)),
        ("0.5/S", Limit(0.5, 1.0)),
    ],
)
def test_rates_as_the_operator_writes_them(text: str, limit: Limit) -> None:
    assert parse_limit(text) == limit


@pytest.mark.parametrize("text", ["600", "600/fortnight", "-1/min", "0/min", "lots/min", ""])
def test_unreadable_rates_are_refused_with_the_reason(text: str) -> None:
    with pytest.raises(ValueError, match=r"600/min|above 0"):
        parse_limit(text)


def test_the_environment_overrides_a_providers_published_limits() -> None:
    published = {
        "fal": ProviderLimits(submit=per_minute(600), status=per_minute(600)),
        "gemini": ProviderLimits(submit=per_minute(10), status=per_minute(60)),
    }
    env = {"VEO_BUDGET_FAL_STATUS": "120/min", "VEO_BUDGET_GEMINI_SUBMIT": "off"}
    limits = limits_from_env(published, env)
    assert limits["fal"] == ProviderLimits(submit=per_minute(600), status=per_minute(120))
    assert limits["gemini"] == ProviderLimits(submit=None, status=per_minute(60))
    with pytest.raises(ValueError, match="VEO_BUDGET_FAL_SUBMIT"):
        limits_from_env(published, {"VEO_BUDGET_FAL_SUBMIT": "fast"})


def test_intervals_follow_the_models_completion_times() -> None:
    rng = random.Random(5)
    durations = [rng.uniform(60, 120) for _ in range(50)]  # done between 1 and 2 minutes
    points = quantile_points(durations)
    assert points[0] == min(durations) and points[-1] == max(durations)
    elapsed, polls = 0.0, []
    while elapsed < 200:
        delay = adaptive_delay(elapsed, points, floor_s=1.0, cap_s=30.0)
        assert delay is not None
        elapsed += delay
        polls.append(elapsed)
    # The first poll near the fastest job, not after the provider's interval.
    assert polls[0] == pytest.approx(min(durations))
    within = [p for p in polls if min(durations) <= p <= max(durations)]
    before = [p for p in polls if p < min(durations)]
    assert before == [] and len(within) >= 15  # dense where videos finish
    # Past the slowest, a quarter of the time run so far between polls, up to the cap.
    after = [p for p in polls if p > max(durations) + 1e-9]
    gaps = [b - a for a, b in itertools.pairwise(after)]
    assert gaps and all(
        g == pytest.approx(min(STRAGGLER_SHARE * a, 30.0))
        for a, g in zip(after, gaps, strict=False)
    )


def test_intervals_stay_between_floor_and_cap() -> None:
    points = quantile_points([5.0, 5.1, 5.2, 300.0])
    assert adaptive_delay(4.0, points, floor_s=2.0, cap_s=30.0) == 2.0  # 5.1 is close
    assert adaptive_delay(6.0, points, floor_s=2.0, cap_s=30.0) == 30.0
    # Past the slowest: a quarter of the time run so far, within the floor and the cap.
    assert adaptive_delay(400.0, points, floor_s=2.0, cap_s=30.0) == 30.0
    assert adaptive_delay(301.0, [5.0, 300.0], floor_s=2.0, cap_s=300.0) == pytest.approx(75.25)
    assert adaptive_delay(6.0, [5.0], floor_s=2.0, cap_s=30.0) == 2.0
    assert adaptive_delay(0.0, [], floor_s=2.0, cap_s=30.0) is None


@pytest.mark.parametrize(
    "adapter",
    [
        AimlapiProvider,
        FalProvider,
        GatewayProvider,
        GeminiProvider,
        OpenRouterProvider,
        ReplicateProvider,
        UseapiProvider,
        VertexProvider,
    ],
)
def test_every_http_provider_publishes_its_limits(adapter: type) -> None:
    limits = getattr(adapter, "limits", None)
    assert isinstance(limits, ProviderLimits)
    assert limits.submit is not None and limits.status is not None
