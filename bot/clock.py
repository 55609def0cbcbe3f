"""Time as a dependency, so quota windows and deadlines can be tested on an injected clock."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """The time as the core reads it, injectable so that tests move it."""

    def now(self) -> float:
        """Seconds since the Unix epoch (UTC)."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> float:
        """Seconds since the Unix epoch (UTC), from the system."""
        return time.time()


class ManualClock:
    """A clock that moves only when told to; for tests and benchmarks."""

    def __init__(self, start: float) -> None:
        self._now = start

    def now(self) -> float:
        """The time the test set."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the time forward by `seconds`."""
        self._now += seconds

    def set(self, moment: float) -> None:
        """Set the time to `moment`."""
        self._now = moment
