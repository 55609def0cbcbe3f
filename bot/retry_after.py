"""How long the bot agrees to wait when a provider or a chat platform says "come back later".

`Retry-After` arrives from outside (a provider's 429, a platform's rate limit) and can say
anything: a date, a negative number, `inf`, `nan`, a year. Read here once: what cannot be read
is None (the scheduler's own backoff applies), and no wait is longer than `MAX_WAIT_S`; the
job's deadline caps it further (`JobService`).
"""

from __future__ import annotations

import email.utils
import math
from datetime import UTC

MAX_WAIT_S = 15 * 60.0


def capped(seconds: float | None) -> float | None:
    """A wait in seconds as the bot will honour it: None when it is not a finite, non-negative
    number, at most `MAX_WAIT_S` otherwise."""
    if seconds is None or isinstance(seconds, bool):
        return None
    try:
        value = float(seconds)
    except (TypeError, ValueError, OverflowError):
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return min(value, MAX_WAIT_S)


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """A `Retry-After` header (delta seconds or an HTTP date), capped; None if unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return capped(float(text))
    except (ValueError, OverflowError):
        pass
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:  # "-0000": a date in UTC with no zone said
        moment = moment.replace(tzinfo=UTC)
    try:
        return capped(max(0.0, moment.timestamp() - now))
    except (ValueError, OverflowError):
        return None
