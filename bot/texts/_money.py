"""Sentences about money: what a video costs, what is left, limits and the usage report's
sums. Amounts are micro-dollars; `bot.money.fmt` shows them in the operator's currency."""

from __future__ import annotations

from bot.models import Job, QuotaReport
from bot.money import display, fmt, fmt_usd
from bot.texts._markup import Markup, seconds


def duration_and_cost(duration_s: float, cost_micro_usd: int | None) -> str:
    """A video's length and price together: "8 s ≈ $1.20", or "8 s, price unknown"."""
    if cost_micro_usd is None:
        return f"{seconds(duration_s)}, price unknown"
    return f"{seconds(duration_s)} ≈ {fmt(cost_micro_usd)}"


def job_price(job: Job) -> str:
    """A job's price alone, for its card: "≈ $1.20", or "price unknown"."""
    return "price unknown" if job.cost_micro_usd is None else f"≈ {fmt(job.cost_micro_usd)}"


def job_cost(job: Job) -> str:
    """A job's length and price, for its card: "8 s ≈ $1.20"."""
    return duration_and_cost(job.request.duration_s or 0, job.cost_micro_usd)


def money_left(report: QuotaReport, markup: Markup) -> list[str]:
    """The money lines of `/veo quota`: spent today and what is left of the daily and the
    workspace's monthly money limits, when there are any."""
    spent = fmt(report.spent_today_micro_usd)
    daily = report.daily_limit_micro_usd
    if daily:
        left = fmt(max(0, daily - report.spent_today_micro_usd))
        lines = [f"Spent today: {spent}; {markup.strong(left)} of {fmt(daily)} left today."]
    else:
        lines = [f"Spent today: {spent} (no money limit)."]
    monthly = report.workspace_monthly_limit_micro_usd
    if monthly:
        left = fmt(max(0, monthly - report.workspace_spent_month_micro_usd))
        lines.append(
            f"This {markup.workspace} has spent {fmt(report.workspace_spent_month_micro_usd)} "
            f"this month: {left} of {fmt(monthly)} left."
        )
    return lines


def money_limits(daily_micro_usd: int | None, monthly_micro_usd: int | None) -> list[str]:
    """Money limits just set, in US dollars as they are kept: "$10.00 a day"."""
    parts = []
    for amount, per in ((daily_micro_usd, "a day"), (monthly_micro_usd, "a month")):
        if amount is None:
            continue
        parts.append(f"no money limit {per}" if amount == 0 else f"{fmt_usd(amount)} {per}")
    return parts


def spent(settled_micro_usd: int, reserved_micro_usd: int = 0) -> str:
    """Money charged, and set aside for videos in progress when there is any."""
    text = fmt(settled_micro_usd)
    return text + (f" (+{fmt(reserved_micro_usd)} in progress)" if reserved_micro_usd else "")


def usage_chart_caption(month: str, people: int) -> str:
    """What the usage chart shows, posted with it."""
    if not people:
        return f"Spend per day in {month}: nothing has been spent yet."
    who = "1 person" if people == 1 else f"{people} people"
    return f"Spend per day in {month}, {who}, in {display().code} (only you can see this)."


def usage_chart_sent_by_dm() -> str:
    """Where the usage chart went, on Slack (an ephemeral message cannot hold a file)."""
    return "The usage chart is in your direct messages with the bot."
