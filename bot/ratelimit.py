"""How often one person may ask for work: a token bucket per person.

Quotas count seconds of video; this counts commands, so that nobody can press Re-roll (or send
`/veo`, Extend, Animate) as fast as they can click and make the bot fetch images, query the
store and answer each time. Kept in memory per process: a restart forgets it, and with
several replicas each counts its own share, which still bounds what one person can make any
one of them do.
"""

from __future__ import annotations

from collections import OrderedDict

from bot.clock import Clock

# Buckets kept at most; the least recently used go first (they are the fullest, and a full
# bucket is the same as none).
MAX_PEOPLE = 100_000


class CommandRateLimit:
    """At most `per_minute` commands in a burst per person, then one every `60 / per_minute`
    seconds; `per_minute` 0 means no limit."""

    def __init__(self, per_minute: int, clock: Clock, *, max_people: int = MAX_PEOPLE) -> None:
        self._capacity = float(per_minute)
        self._per_second = per_minute / 60.0
        self._clock = clock
        self._max_people = max_people
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at

    def take(self, key: str) -> float:
        """Spend one of `key`'s commands: 0 when there was one, else the seconds until one
        is back (nothing is spent then)."""
        if self._capacity <= 0:
            return 0.0
        now = self._clock.now()
        tokens, at = self._buckets.pop(key, (self._capacity, now))
        tokens = min(self._capacity, tokens + max(0.0, now - at) * self._per_second)
        if tokens >= 1.0:
            tokens -= 1.0
            wait = 0.0
        else:
            wait = (1.0 - tokens) / self._per_second
        self._buckets[key] = (tokens, now)
        self._forget_full(now)
        return wait

    def _forget_full(self, now: float) -> None:
        while len(self._buckets) > self._max_people:
            self._buckets.popitem(last=False)
        while self._buckets:
            tokens, at = next(iter(self._buckets.values()))
            if tokens + (now - at) * self._per_second < self._capacity:
                break
            self._buckets.popitem(last=False)
