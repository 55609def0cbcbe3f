"""How long a model usually takes, for the card of a job at the provider: a range of whole
minutes from the model's recent completion times (`Store.recent_durations`), never a
percentage the provider did not give. Too few completions: nothing is said."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from bot.clock import Clock
from bot.ports import Store

log = logging.getLogger(__name__)

SAMPLES = 50  # recent completions per model the range follows
MIN_SAMPLES = 5  # fewer than this is no distribution: nothing is shown
TTL_S = 300.0  # how long a model's range is used before its completions are read again
LOW, HIGH = 0.1, 0.9  # the range shown: from the 10th to the 90th percentile


def quantile(ordered: Sequence[float], share: float) -> float:
    """The `share` quantile of sorted `ordered`, by linear interpolation."""
    at = share * (len(ordered) - 1)
    below = math.floor(at)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (at - below)


def usual_minutes(durations: Sequence[float]) -> tuple[int, int] | None:
    """The range most of these completions (seconds) fell in, in whole minutes, at least 1:
    the 10th percentile rounded down, the 90th rounded up; None with too few."""
    ordered = sorted(d for d in durations if math.isfinite(d) and d >= 0)
    if len(ordered) < MIN_SAMPLES:
        return None
    low = max(1, math.floor(quantile(ordered, LOW) / 60))
    high = max(low, math.ceil(quantile(ordered, HIGH) / 60))
    return low, high


class Estimates:
    """Each model's usual range, read from the store at most every `TTL_S`."""

    def __init__(self, *, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._ranges: dict[str, tuple[float, tuple[int, int] | None]] = {}

    async def usual_minutes(self, model: str) -> tuple[int, int] | None:
        """The model's usual range in minutes, or None when too few of its jobs finished."""
        now = self._clock.now()
        cached = self._ranges.get(model)
        if cached is not None and now - cached[0] < TTL_S:
            return cached[1]
        found: tuple[int, int] | None = None
        try:
            found = usual_minutes(await self._store.recent_durations(model, SAMPLES))
        except Exception:
            log.exception("could not read the completion times of %s", model)
        self._ranges[model] = (now, found)
        return found
