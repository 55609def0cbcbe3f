"""Sentences about money: what a video costs, what is left, limits and the usage report's
sums. Amounts are micro-dollars; `bot.money.fmt` shows them in the operator's currency."""

from __future__ import annotations

from bot.i18n import _, ngettext
from bot.models import Job, QuotaReport
from bot.money import display, fmt, fmt_usd
from bot.texts._markup import Markup, seconds


def duration_and_cost(duration_s: float, cost_micro_usd: int | None) -> str:
    """A video's length and price together: "8 s ≈ $1.20", or "8 s, price unknown"."""
    if cost_micro_usd is None:
        return _("{seconds}, price unknown").format(seconds=seconds(duration_s))
    return _("{seconds} ≈ {price}").format(seconds=seconds(duration_s), price=fmt(cost_micro_usd))


def job_price(job: Job) -> str:
    """A job's price alone, for its card: "≈ $1.20", or "price unknown"."""
    if job.cost_micro_usd is None:
        return _("price unknown")
    return _("≈ {price}").format(price=fmt(job.cost_micro_usd))


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
        lines = [
            _("Spent today: {spent}; {left} of {limit} left today.").format(
                spent=spent, left=markup.strong(left), limit=fmt(daily)
            )
        ]
    else:
        lines = [_("Spent today: {spent} (no money limit).").format(spent=spent)]
    monthly = report.workspace_monthly_limit_micro_usd
    if monthly:
        left = fmt(max(0, monthly - report.workspace_spent_month_micro_usd))
        lines.append(
            _("This {workspace} has spent {spent} this month: {left} of {limit} left.").format(
                workspace=markup.workspace,
                spent=fmt(report.workspace_spent_month_micro_usd),
                left=left,
                limit=fmt(monthly),
            )
        )
    return lines


def money_limits(daily_micro_usd: int | None, monthly_micro_usd: int | None) -> list[str]:
    """Money limits just set, in US dollars as they are kept: "$10.00 a day"."""
    parts = []
    if daily_micro_usd is not None:
        parts.append(
            _("no money limit a day")
            if daily_micro_usd == 0
            else _("{amount} a day").format(amount=fmt_usd(daily_micro_usd))
        )
    if monthly_micro_usd is not None:
        parts.append(
            _("no money limit a month")
            if monthly_micro_usd == 0
            else _("{amount} a month").format(amount=fmt_usd(monthly_micro_usd))
        )
    return parts


def spent(settled_micro_usd: int, reserved_micro_usd: int = 0) -> str:
    """Money charged, and set aside for videos in progress when there is any."""
    if not reserved_micro_usd:
        return fmt(settled_micro_usd)
    return _("{spent} (+{reserved} in progress)").format(
        spent=fmt(settled_micro_usd), reserved=fmt(reserved_micro_usd)
    )


def usage_chart_caption(month: str, people: int) -> str:
    """What the usage chart shows, posted with it."""
    if not people:
        return _("Spend per day in {month}: nothing has been spent yet.").format(month=month)
    return ngettext(
        "Spend per day in {month}, {people} person, in {currency} (only you can see this).",
        "Spend per day in {month}, {people} people, in {currency} (only you can see this).",
        people,
    ).format(month=month, people=people, currency=display().code)


def usage_chart_sent_by_dm() -> str:
    """Where the usage chart went, on Slack (an ephemeral message cannot hold a file)."""
    return _("The usage chart is in your direct messages with the bot.")
