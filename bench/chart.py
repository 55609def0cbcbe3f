"""The usage chart (`veo-bot usage --png`, /veo-admin chart): in a fresh process, what loading
matplotlib costs the first chart, how long a month of 50 people x 31 days takes to draw after
that, and the peak RSS it adds. The bot pays none of it until an admin asks for a chart."""

from __future__ import annotations

import statistics
import time
from multiprocessing.connection import Connection

from bench._harness import RssSampler, in_child
from bot import usage_chart
from bot.models import DailySpend
from bot.money import Currency

PEOPLE, DAYS, REPEATS = 50, 31, 5


def _month() -> list[DailySpend]:
    return [
        DailySpend(f"2026-12-{day:02d}", f"discord:1:{person}", 1_200_000 * (1 + person % 3))
        for day in range(1, DAYS + 1)
        for person in range(PEOPLE)
    ]


async def _child(conn: Connection) -> None:
    spends = _month()
    with RssSampler() as sampler:
        baseline = sampler.peak_mb
        start = time.perf_counter()
        usage_chart.render("2026-12", spends, Currency())
        first_s = time.perf_counter() - start
        times = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            png = usage_chart.render("2026-12", spends, Currency())
            times.append(time.perf_counter() - start)
    conn.send((first_s, statistics.median(times), sampler.peak_mb - baseline, len(png)))


def run() -> list[tuple[str, str, str]]:
    first_s, median_s, peak_mb, size = in_child(_child)
    return [
        (
            "usage chart, first (matplotlib import + draw)",
            f"{first_s * 1000:.0f} ms, peak +{peak_mb:.0f} MB",
            "< 3 s",
        ),
        (
            f"usage chart, {PEOPLE} people x {DAYS} days",
            f"{median_s * 1000:.0f} ms median, {size / 1024:.0f} KB PNG",
            "< 1 s",
        ),
    ]


if __name__ == "__main__":
    for row in run():
        print(*row, sep="  |  ")
