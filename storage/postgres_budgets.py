"""The providers' request budgets every replica shares, in PostgreSQL (bot.budget.SharedPacer):
one statement per reservation of a batch, one per 429."""

from __future__ import annotations

import asyncpg

# Insert the pacer with this first reservation, or advance it when the next request may go
# now (within the tolerance, after any Retry-After); the SET expressions read the row as it
# was, RETURNING as it is now.
_RESERVE = """
INSERT INTO request_budgets AS b (provider, kind, tat, granted_from)
VALUES ($1, $2, $3::float8 + $4::int * $5::float8, $3::float8)
ON CONFLICT (provider, kind) DO UPDATE SET
    granted_from = CASE WHEN $3::float8 >= GREATEST(b.tat - $6::float8, b.blocked_until)
                        THEN GREATEST(b.tat, $3::float8) END,
    tat = CASE WHEN $3::float8 >= GREATEST(b.tat - $6::float8, b.blocked_until)
               THEN GREATEST(b.tat, $3::float8) + $4::int * $5::float8
                    / LEAST(1.0, b.factor + GREATEST(0.0, $3::float8 - b.throttled_at) / $7::float8)
               ELSE b.tat END
RETURNING granted_from, tat, blocked_until
"""

# Halve the pace the pacer has now (it recovers linearly from the end of the pause).
_THROTTLE = """
UPDATE request_budgets SET
    factor = GREATEST($4::float8,
                      LEAST(1.0, factor + GREATEST(0.0, $3::float8 - throttled_at) / $5::float8)
                      / 2),
    blocked_until = GREATEST(blocked_until, $3::float8 + $6::float8),
    throttled_at = GREATEST(blocked_until, $3::float8 + $6::float8)
WHERE provider = $1 AND kind = $2
"""


async def reserve(
    pool: asyncpg.Pool[asyncpg.Record],
    provider: str,
    kind: str,
    *,
    now: float,
    count: int,
    spacing_s: float,
    tolerance_s: float,
    recovery_s: float,
) -> tuple[float | None, float, float]:
    """See `SharesBudgets.reserve_requests`."""
    row = await pool.fetchrow(
        _RESERVE, provider, kind, now, count, spacing_s, tolerance_s, recovery_s
    )
    assert row is not None
    tat, blocked = float(row["tat"]), float(row["blocked_until"])
    first = row["granted_from"]
    if first is None:
        return None, spacing_s, max(tat - tolerance_s, blocked)
    first = float(first)
    return first, (tat - first) / count, max(tat - tolerance_s, blocked)


async def throttle(
    pool: asyncpg.Pool[asyncpg.Record],
    provider: str,
    kind: str,
    *,
    now: float,
    wait_s: float,
    min_factor: float,
    recovery_s: float,
) -> None:
    """See `SharesBudgets.throttle_requests`."""
    await pool.execute(_THROTTLE, provider, kind, now, min_factor, recovery_s, wait_s)
