"""The quota policy: its windows, who may set which limits, the limits in force, and the
decision whether a job may start, with the words people see when a limit stops them.

Everything here is pure. A store gathers what the decision needs (the person's block, the
overrides, the usage) and calls `admission` inside the transaction that inserts the job and
reserves its seconds, so that the check and the reservation cannot be split by another
writer; every `Store` implementation reuses the same policy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from bot import i18n, money
from bot.channels import ChannelBudget
from bot.errors import InvalidRequest, QuotaExceeded, UserFacingError
from bot.i18n import _, ngettext
from bot.models import Authority, LimitOverride, QuotaLimits, QuotaPeriod, QuotaUsage

USER_DAILY = "user_daily"
USER_CONCURRENT = "user_concurrent"
CHANNEL_DAILY = "channel_daily"
WORKSPACE_MONTHLY = "workspace_monthly"
USER_DAILY_USD = "user_daily_usd"
WORKSPACE_MONTHLY_USD = "workspace_monthly_usd"
PRICE_UNKNOWN = "price_unknown"
# The most anyone, the operator included, can set: past these a number is a typo or an
# attack (`daily:1e9`), not a quota.
MAX_LIMIT_S = 1_000_000
MAX_CONCURRENT = 1_000


def period_at(now: float) -> QuotaPeriod:
    """The quota period (this UTC day and month) that `now` falls in."""
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
    """Seconds as the reader writes them: "8 s"."""
    return i18n.seconds(value)


def _until(resets_at: float, now: float) -> str:
    left = max(0, int(resets_at - now))
    hours, rem = divmod(left, 3600)
    minutes = rem // 60
    if hours:
        span = _("{hours}h {minutes}m").format(hours=hours, minutes=f"{minutes:02d}")
    else:
        span = _("{minutes}m").format(minutes=minutes)
    return _("{moment} (in {span})").format(moment=i18n.utc(resets_at), span=span)


def refusal(
    limit: str,
    *,
    used: float,
    allowed: float,
    cost: float,
    period: QuotaPeriod,
    now: float,
    cost_micro_usd: int | None = None,
) -> QuotaExceeded:
    """The `QuotaExceeded` error for `limit`, saying what was hit and when it frees up (and
    what the video costs in money, when known)."""
    price = None if cost_micro_usd is None else money.fmt(cost_micro_usd)
    if limit == USER_CONCURRENT and allowed <= 0:
        message = _(
            "You may not have any video in progress here (limit 0), so none can start. "
            "An admin can raise it."
        )
        return QuotaExceeded(message, limit=limit, used=used, allowed=allowed, resets_at=None)
    if limit == USER_CONCURRENT:
        message = ngettext(
            "You already have {count} video in progress (limit {limit}). Wait for one to "
            "finish, then try again.",
            "You already have {count} videos in progress (limit {limit}). Wait for one to "
            "finish, then try again.",
            int(used),
        ).format(count=int(used), limit=int(allowed))
        return QuotaExceeded(message, limit=limit, used=used, allowed=allowed, resets_at=None)
    left = max(0.0, allowed - used)
    if limit == USER_DAILY:
        message = (
            _(
                "This video costs {cost} of your daily quota, and you have {left} of {limit} "
                "left today. Your quota resets at {resets}."
            )
            if price is None
            else _(
                "This video costs {cost} (≈ {price}) of your daily quota, and you have {left} "
                "of {limit} left today. Your quota resets at {resets}."
            )
        ).format(
            cost=_fmt_seconds(cost),
            price=price,
            left=_fmt_seconds(left),
            limit=_fmt_seconds(allowed),
            resets=_until(period.day_resets_at, now),
        )
        return QuotaExceeded(
            message, limit=limit, used=used, allowed=allowed, resets_at=period.day_resets_at
        )
    if limit == CHANNEL_DAILY:
        message = _(
            "This video costs {cost}, and this channel has {left} of its {limit} for today "
            "left. It resets at {resets}."
        ).format(
            cost=_fmt_seconds(cost),
            left=_fmt_seconds(left),
            limit=_fmt_seconds(allowed),
            resets=_until(period.day_resets_at, now),
        )
        return QuotaExceeded(
            message, limit=limit, used=used, allowed=allowed, resets_at=period.day_resets_at
        )
    message = (
        _(
            "This video costs {cost}, and this workspace has {left} of its {limit} for the "
            "month left. It resets at {resets}."
        )
        if price is None
        else _(
            "This video costs {cost} (≈ {price}), and this workspace has {left} of its {limit} "
            "for the month left. It resets at {resets}."
        )
    ).format(
        cost=_fmt_seconds(cost),
        price=price,
        left=_fmt_seconds(left),
        limit=_fmt_seconds(allowed),
        resets=_until(period.month_resets_at, now),
    )
    return QuotaExceeded(
        message, limit=limit, used=used, allowed=allowed, resets_at=period.month_resets_at
    )


def money_refusal(
    limit: str,
    *,
    used: int,
    allowed: int,
    cost: int,
    period: QuotaPeriod,
    now: float,
    cost_s: float = 0,
) -> QuotaExceeded:
    """The `QuotaExceeded` error for a money limit (micro-dollars), in the display currency."""
    fmt = money.fmt
    left = max(0, allowed - used)
    if limit == USER_DAILY_USD:
        resets_at = period.day_resets_at
        sentence = (
            _(
                "This video ({seconds}) costs about {cost}, and you have {left} of {limit} left "
                "today. Your budget resets at {resets}."
            )
            if cost_s
            else _(
                "This video costs about {cost}, and you have {left} of {limit} left today. "
                "Your budget resets at {resets}."
            )
        )
    else:
        resets_at = period.month_resets_at
        sentence = (
            _(
                "This video ({seconds}) costs about {cost}, and this workspace has {left} of "
                "its {limit} for the month left. It resets at {resets}."
            )
            if cost_s
            else _(
                "This video costs about {cost}, and this workspace has {left} of its {limit} "
                "for the month left. It resets at {resets}."
            )
        )
    message = sentence.format(
        seconds=_fmt_seconds(cost_s),
        cost=fmt(cost),
        left=fmt(left),
        limit=fmt(allowed),
        resets=_until(resets_at, now),
    )
    return QuotaExceeded(
        message,
        limit=limit,
        used=used / money.MICRO,
        allowed=allowed / money.MICRO,
        resets_at=resets_at,
    )


def price_unknown_refusal() -> QuotaExceeded:
    """The refusal of a model whose price is not known while spending is limited in money:
    the bot cannot tell whether it fits, and never guesses."""
    return QuotaExceeded(
        _(
            "This model's price is not known to the bot, and spending here is limited in "
            "money, so it cannot tell whether the video fits. Pick a model with a known price, "
            "or ask an admin."
        ),
        limit=PRICE_UNKNOWN,
        used=0,
        allowed=0,
        resets_at=None,
    )


def _money_admission(
    limits: QuotaLimits,
    usage: QuotaUsage,
    *,
    cost: int | None,
    cost_s: float,
    period: QuotaPeriod,
    now: float,
) -> QuotaExceeded | None:
    daily, monthly = limits.user_daily_micro_usd, limits.workspace_monthly_micro_usd
    if not daily and not monthly:
        return None
    if cost is None:
        return price_unknown_refusal()
    for limit, allowed, used in (
        (USER_DAILY_USD, daily, usage.spent_today_micro_usd),
        (WORKSPACE_MONTHLY_USD, monthly, usage.workspace_spent_month_micro_usd),
    ):
        if allowed and used + cost > allowed:
            return money_refusal(
                limit,
                used=used,
                allowed=allowed,
                cost=cost,
                period=period,
                now=now,
                cost_s=cost_s,
            )
    return None


def admission(
    *,
    blocked: bool,
    limits: QuotaLimits,
    usage: QuotaUsage,
    cost_s: float,
    period: QuotaPeriod,
    now: float,
    channel: ChannelBudget | None = None,
    cost_micro_usd: int | None = None,
) -> UserFacingError | None:
    """The decision for a job of `cost_s` (and `cost_micro_usd`, None: price unknown) now:
    None when it may be accepted, else the refusal to raise (the person is blocked, or the
    first limit the job would pass: no job at once allowed at all, seconds today, the
    channel's day, money today and this month, seconds this month). A job over the number
    at once is not refused: it waits (`must_wait`), its seconds and money counted as
    committed from now on. A job of unknown price is refused wherever a money limit
    applies. `limits` are those in force (`effective_limits`); `usage` counts the reservations
    and charges so far; `channel`: the channel's daily budget, when its rules set one."""
    if blocked:
        return blocked_refusal()
    if limits.user_concurrent <= 0:  # no slot ever frees: waiting would be for ever
        return refusal(
            USER_CONCURRENT,
            used=usage.in_flight,
            allowed=limits.user_concurrent,
            cost=cost_s,
            period=period,
            now=now,
            cost_micro_usd=cost_micro_usd,
        )
    if usage.used_today_s + cost_s > limits.user_daily_s:
        return refusal(
            USER_DAILY,
            used=usage.used_today_s,
            allowed=limits.user_daily_s,
            cost=cost_s,
            period=period,
            now=now,
            cost_micro_usd=cost_micro_usd,
        )
    if channel is not None and channel.used_today_s + cost_s > channel.daily_s:
        return refusal(
            CHANNEL_DAILY,
            used=channel.used_today_s,
            allowed=channel.daily_s,
            cost=cost_s,
            period=period,
            now=now,
            cost_micro_usd=cost_micro_usd,
        )
    refused = _money_admission(
        limits, usage, cost=cost_micro_usd, cost_s=cost_s, period=period, now=now
    )
    if refused is not None:
        return refused
    monthly = limits.workspace_monthly_s
    if monthly and usage.workspace_used_month_s + cost_s > monthly:
        return refusal(
            WORKSPACE_MONTHLY,
            used=usage.workspace_used_month_s,
            allowed=monthly,
            cost=cost_s,
            period=period,
            now=now,
            cost_micro_usd=cost_micro_usd,
        )
    return None


def must_wait(limits: QuotaLimits, usage: QuotaUsage, *, queued: int) -> bool:
    """Whether an accepted job waits at the bot (`JobState.QUEUED`) rather than starts: the
    person has as many jobs under way as they may have at once, or older jobs of theirs
    are waiting already (they go first)."""
    return queued > 0 or usage.in_flight >= limits.user_concurrent


def blocked_refusal() -> UserFacingError:
    """The refusal a blocked person gets."""
    return UserFacingError(
        _("You are not allowed to make videos here; an admin can tell you more."), code="blocked"
    )


# --- limits: the operator's caps, and what workspace admins make of them ---------------------
#
# Overrides are kept per authority (`LimitOverride.set_by`). The operator's caps are the
# environment's defaults, overridden by the operator's workspace row, then by the operator's
# user row. A workspace admin's rows (workspace, then user) may only tighten them: the limit in
# force is the smaller of the two, 0 for the monthly limit meaning unlimited.


_Layers = tuple[float | None, float | None, float | None, int | None, int | None]


def _layered(start: QuotaLimits | None, rows: Iterable[LimitOverride]) -> _Layers:
    """`start`, overridden by the workspace row, then by the user row (one authority's):
    daily s, concurrent, monthly s, daily micro-dollars, monthly micro-dollars."""
    daily: float | None = start.user_daily_s if start else None
    concurrent: float | None = start.user_concurrent if start else None
    monthly: float | None = start.workspace_monthly_s if start else None
    daily_usd: int | None = start.user_daily_micro_usd if start else None
    monthly_usd: int | None = start.workspace_monthly_micro_usd if start else None
    by_scope = {row.scope: row for row in rows}
    for scope in ("workspace", "user"):
        row = by_scope.get(scope)
        if row is None:
            continue
        daily = row.daily_s if row.daily_s is not None else daily
        concurrent = row.concurrent if row.concurrent is not None else concurrent
        daily_usd = row.daily_micro_usd if row.daily_micro_usd is not None else daily_usd
        if scope == "workspace" and row.monthly_s is not None:
            monthly = row.monthly_s
        if scope == "workspace" and row.monthly_micro_usd is not None:
            monthly_usd = row.monthly_micro_usd
    return daily, concurrent, monthly, daily_usd, monthly_usd


def operator_caps(defaults: QuotaLimits, overrides: Iterable[LimitOverride]) -> QuotaLimits:
    """The limits the operator allows: defaults, then the operator's own overrides."""
    mine = [row for row in overrides if row.set_by is Authority.OPERATOR]
    daily, concurrent, monthly, daily_usd, monthly_usd = _layered(defaults, mine)
    assert daily is not None and concurrent is not None and monthly is not None
    return QuotaLimits(daily, int(concurrent), monthly, daily_usd or 0, monthly_usd or 0)


def effective_limits(defaults: QuotaLimits, overrides: Iterable[LimitOverride]) -> QuotaLimits:
    """The limits in force: the operator's caps, tightened by the workspace admins'. A money
    limit of 0 is none: a workspace admin's 0 cannot lift the operator's."""
    overrides = list(overrides)
    caps = operator_caps(defaults, overrides)
    theirs = [row for row in overrides if row.set_by is Authority.WORKSPACE_ADMIN]
    daily, concurrent, monthly, daily_usd, monthly_usd = _layered(None, theirs)
    return QuotaLimits(
        _tighter(caps.user_daily_s, daily),
        int(_tighter(caps.user_concurrent, concurrent)),
        _tighter_monthly(caps.workspace_monthly_s, monthly),
        int(_tighter_monthly(caps.user_daily_micro_usd, daily_usd)),
        int(_tighter_monthly(caps.workspace_monthly_micro_usd, monthly_usd)),
    )


def _tighter(cap: float, value: float | None) -> float:
    # NaN compares false both ways: a stored NaN (never written since values are checked)
    # must not lift the cap, so only a real, smaller number wins.
    return value if value is not None and value < cap else cap


def _tighter_monthly(cap: float, value: float | None) -> float:
    if value is None or not value > 0:  # 0: unlimited, which cannot loosen a cap
        return cap
    return value if not cap or value < cap else cap


def check_limit_values(
    *, daily_s: float | None, concurrent: float | None, monthly_s: float | None
) -> None:
    """Refuse, in plain words, a limit that is not a number of the right size."""
    for name, value, ceiling, sentence in (
        (
            "daily",
            daily_s,
            MAX_LIMIT_S,
            _("{name} must be a number from 0 to {most} seconds, not {typed}."),
        ),
        (
            "concurrent",
            concurrent,
            MAX_CONCURRENT,
            _("{name} must be a number from 0 to {most} videos at a time, not {typed}."),
        ),
        (
            "monthly",
            monthly_s,
            MAX_LIMIT_S,
            _("{name} must be a number from 0 to {most} seconds, not {typed}."),
        ),
    ):
        if value is None:
            continue
        if not (math.isfinite(value) and 0 <= value <= ceiling):
            raise InvalidRequest(
                sentence.format(name=name, most=i18n.whole(ceiling), typed=f"{value:g}")
            )
        if name == "concurrent" and not float(value).is_integer():
            raise InvalidRequest(
                _("{name} must be a whole number, not {typed}.").format(
                    name=name, typed=f"{value:g}"
                )
            )


def check_within_caps(
    caps: QuotaLimits,
    *,
    daily_s: float | None,
    concurrent: float | None,
    monthly_s: float | None,
    daily_micro_usd: int | None = None,
    monthly_micro_usd: int | None = None,
) -> None:
    """Refuse a workspace admin's limit that would lift anyone above the operator's caps."""
    only_operator = _(
        "You can set {name} up to {most} here: that is the limit the bot's operator allows. "
        "Only the operator can allow more."
    )
    for what, amount, allowed, zero, most in (
        (
            "daily-usd",
            daily_micro_usd,
            caps.user_daily_micro_usd,
            _(
                "{name} 0 means no money limit, and the bot's operator allows {amount} a day: "
                "set {amount} or less."
            ),
            _("{amount} a day"),
        ),
        (
            "monthly-usd",
            monthly_micro_usd,
            caps.workspace_monthly_micro_usd,
            _(
                "{name} 0 means no money limit, and the bot's operator allows {amount} a "
                "month: set {amount} or less."
            ),
            _("{amount} a month"),
        ),
    ):
        if amount is None or not allowed:
            continue
        if amount == 0:
            raise InvalidRequest(zero.format(name=what, amount=money.fmt_usd(allowed)))
        if amount > allowed:
            raise InvalidRequest(
                only_operator.format(name=what, most=most.format(amount=money.fmt_usd(allowed)))
            )
    for name, value, cap, most in (
        ("daily", daily_s, caps.user_daily_s, _("{seconds} a day")),
        ("concurrent", concurrent, caps.user_concurrent, _("{count} at a time")),
    ):
        if value is not None and value > cap:
            raise InvalidRequest(
                only_operator.format(
                    name=name, most=most.format(seconds=_fmt_seconds(cap), count=f"{cap:g}")
                )
            )
    cap = caps.workspace_monthly_s
    if monthly_s is None or not cap:
        return
    if monthly_s == 0:
        raise InvalidRequest(
            _(
                "{name} 0 means unlimited, and the bot's operator allows this workspace {most}: "
                "set {cap} or less."
            ).format(
                name="monthly",
                most=_("{seconds} a month").format(seconds=_fmt_seconds(cap)),
                cap=f"{cap:g}",
            )
        )
    if monthly_s > cap:
        raise InvalidRequest(only_operator.format(name="monthly", most=_fmt_seconds(cap)))
