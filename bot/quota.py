"""Quota windows and the words people see when a limit stops them.

The arithmetic that must be atomic (reserve in the same transaction as the job insert) lives in
the store; this module decides the windows and phrases the refusals.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.errors import QuotaExceeded, UserFacingError
from bot.models import QuotaPeriod

USER_DAILY = "user_daily"
USER_CONCURRENT = "user_concurrent"
WORKSPACE_MONTHLY = "workspace_monthly"


def period_at(now: float) -> QuotaPeriod:
    moment = datetime.fromtimestamp(now, UTC)
    day_start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = day_start.replace(day=1)
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    return QuotaPeriod(
        day=day_start.strftime("%Y-%m-%d"),
        month=month_start.strftime("%Y-%m"),
        day_resets_at=(day_start + timedelta(days=1)).timestamp(),
        month_resets_at=next_month.timestamp(),
    )


def _fmt_seconds(value: float) -> str:
    return f"{value:g}"


def _until(resets_at: float, now: float) -> str:
    left = max(0, int(resets_at - now))
    hours, rem = divmod(left, 3600)
    minutes = rem // 60
    when = datetime.fromtimestamp(resets_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    span = f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"
    return f"{when} (in {span})"


def refusal(
    limit: str, *, used: float, allowed: float, cost: float, period: QuotaPeriod, now: float
) -> QuotaExceeded:
    """The `QuotaExceeded` error for `limit`, saying what was hit and when it frees up."""
    if limit == USER_CONCURRENT:
        message = (
            f"You already have {int(used)} video{'s' if used != 1 else ''} in progress "
            f"(limit {int(allowed)}). Wait for one to finish, then try again."
        )
        return QuotaExceeded(message, limit=limit, used=used, allowed=allowed, resets_at=None)
    if limit == USER_DAILY:
        left = max(0.0, allowed - used)
        message = (
            f"This video costs {_fmt_seconds(cost)} s of your daily quota, and you have "
            f"{_fmt_seconds(left)} s of {_fmt_seconds(allowed)} s left today. "
            f"Your quota resets at {_until(period.day_resets_at, now)}."
        )
        return QuotaExceeded(
            message, limit=limit, used=used, allowed=allowed, resets_at=period.day_resets_at
        )
    left = max(0.0, allowed - used)
    message = (
        f"This video costs {_fmt_seconds(cost)} s, and this workspace has {_fmt_seconds(left)} s "
        f"of its {_fmt_seconds(allowed)} s for the month left. "
        f"It resets at {_until(period.month_resets_at, now)}."
    )
    return QuotaExceeded(
        message, limit=limit, used=used, allowed=allowed, resets_at=period.month_resets_at
    )


def blocked() -> UserFacingError:
    return UserFacingError(
        "You are not allowed to make videos here; an admin can tell you more.", code="blocked"
    )
