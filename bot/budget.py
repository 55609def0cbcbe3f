"""Request budgets: how often the bot may call each provider, shared by every job.

Each provider has two budgets, one for submits and one for status reads, each a number of
requests per window ("600/min"). A budget is kept as a pacer (the generic cell rate algorithm):
requests of one kind to one provider go at an even pace, a request may go up to one spacing
ahead of its turn, and any window of the provider's length then holds fewer than `count`
requests whatever the jobs do at once (`Limit.tolerance_s`); the bot spends `SAFETY` of that,
so that a request that leaves a little late (the event loop was busy) never tips a window
over.

A 429 halves the pace (down to `MIN_FACTOR`) and stops all requests of that kind until its
`Retry-After` has passed; the pace then comes back linearly over `RECOVERY_S` (AIMD).

A job that finds no request free is not sent: it is booked into the first free slot of a
calendar at the budget's pace and made due then, so that waiting jobs come back spread out
rather than all at once. The calendar also places every next poll, so that with a short budget
the polls are spread over time instead of asked for and refused.

Kept in memory per process on SQLite (one process). Shared by every replica on PostgreSQL, so
that the operator's `VEO_BUDGET_*` values are the provider's whole limit however many replicas
run; each process pacing alone would let three replicas send three times the budget. With a
store that `SharesBudgets`, each provider's and kind's pacer lives in the database instead
(`SharedPacer`): the theoretical time of the next request, the pace a 429 shrank and any
`Retry-After` pause, advanced atomically by one statement per reservation. A reservation takes
`batch_size` requests at once, so that a busy process asks the database once per batch rather
than once per request; a 429 seen by any replica slows them all. A batch may be spent at once,
from one spacing before its first slot to its last slot, and what is left after that is
dropped: any window then holds at most `2 * batch + window / spacing` requests across all
replicas, so the shared pace leaves that much room under the limit (`shared_spacing_s`, a
percent or two). The booking calendar stays in each process: it only places the polls; the
shared pacer decides whether one may go.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from bot.ports import SharesBudgets

Kind = Literal["submit", "status"]
KINDS: tuple[Kind, ...] = ("submit", "status")
SAFETY = 0.98
MIN_FACTOR = 1 / 64
RECOVERY_S = 60.0
_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
}
NO_LIMIT = ("none", "off", "unlimited")
_LIMIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*([a-z]+)\s*$")


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `count` requests in any `window_s` seconds."""

    count: float
    window_s: float

    @property
    def spacing_s(self) -> float:
        """The time between two requests at the pace the bot keeps within this limit: two
        under `count` a window (the tolerance's share, see `tolerance_s`), and `SAFETY` of
        that."""
        room = self.count - 2 if self.count > 2 else self.count
        return self.window_s / (room * SAFETY)

    @property
    def tolerance_s(self) -> float:
        """How early a request may go against the pace (one spacing; none for limits of two
        or fewer a window), so that a job coming back a little late for its turn does not
        lose it. Any window then holds at most `1 + (window + tolerance) / spacing`
        requests, which is under `count`."""
        return self.spacing_s if self.count > 2 else 0.0

    def __str__(self) -> str:
        unit = {1.0: "s", 60.0: "min", 3600.0: "h"}.get(self.window_s)
        return f"{self.count:g}/{unit}" if unit else f"{self.count:g}/{self.window_s:g}s"


@dataclass(frozen=True, slots=True)
class ProviderLimits:
    """A provider's published limits: submits and status reads; None is no limit."""

    submit: Limit | None = None
    status: Limit | None = None


def per_minute(count: float) -> Limit:
    """`count` requests a minute."""
    return Limit(count, 60.0)


def per_second(count: float) -> Limit:
    """`count` requests a second."""
    return Limit(count, 1.0)


def parse_limit(text: str) -> Limit:
    """A limit as the operator writes it: `600/min`, `10/s`, `3000/minute`, `100/h`.
    Raises ValueError with the reason when it cannot be read."""
    match = _LIMIT.match(text.lower())
    if not match or match.group(2) not in _UNITS:
        raise ValueError(f"{text!r} is not a rate such as 600/min or 10/s")
    count = float(match.group(1))
    if not math.isfinite(count) or count <= 0:
        raise ValueError(f"{text!r}: the number of requests must be above 0")
    return Limit(count, _UNITS[match.group(2)])


def limits_from_env(
    published: Mapping[str, ProviderLimits], env: Mapping[str, str]
) -> dict[str, ProviderLimits]:
    """Each configured provider's limits: its published ones, replaced by any
    `VEO_BUDGET_<PROVIDER>_SUBMIT` / `VEO_BUDGET_<PROVIDER>_STATUS` the operator set.
    Raises ValueError naming the variable whose value cannot be read."""
    limits: dict[str, ProviderLimits] = {}
    for name, own in published.items():
        chosen = {"submit": own.submit, "status": own.status}
        for kind in KINDS:
            variable = f"VEO_BUDGET_{name.upper()}_{kind.upper()}"
            value = env.get(variable)
            if value is None or not value.strip():
                continue
            if value.strip().lower() in NO_LIMIT:
                chosen[kind] = None
                continue
            try:
                chosen[kind] = parse_limit(value)
            except ValueError as err:
                raise ValueError(f"{variable}: {err}") from None
        limits[name] = ProviderLimits(submit=chosen["submit"], status=chosen["status"])
    return limits


class Pacer:
    """One provider's budget for one kind of request (see the module's docstring)."""

    def __init__(self, limit: Limit) -> None:
        self.limit = limit
        self._tat = -math.inf  # the theoretical time of the next request at the pace
        self._blocked_until = -math.inf
        self._factor = 1.0  # the pace right after the last 429, as a share of the limit
        self._throttled_at = -math.inf
        # The booking calendar: slot index -> the next slot to try (a union-find over full
        # slots), for slots booked from `_calendar_from` on.
        self._full: dict[int, int] = {}
        self._calendar_from = 0

    def spacing_s(self, now: float) -> float:
        """The least time between two requests now (wider for a while after a 429)."""
        factor = min(1.0, self._factor + max(0.0, now - self._throttled_at) / RECOVERY_S)
        return self.limit.spacing_s / factor

    def take(self, now: float) -> float:
        """Spend the next request: 0 when one may be sent now (and it counts as sent), else
        the seconds until one may (nothing is spent then)."""
        ready = max(self._tat - self.limit.tolerance_s, self._blocked_until)
        if now >= ready:
            self._tat = max(self._tat, now) + self.spacing_s(now)
            return 0.0
        return ready - now

    def throttled(self, now: float, retry_after_s: float | None) -> None:
        """The provider answered 429: halve the pace and send nothing of this kind before
        its `Retry-After` (or one spacing, when it said nothing)."""
        current = self.limit.spacing_s / self.spacing_s(now)
        wait = retry_after_s if retry_after_s is not None else self.spacing_s(now)
        self._factor = max(MIN_FACTOR, current / 2)
        self._blocked_until = max(self._blocked_until, now + wait)
        self._throttled_at = self._blocked_until  # the pace comes back from then on

    def book(self, now: float, wanted: float) -> float:
        """The first free slot at or after `wanted` (and after any 429's wait), booked: the
        time a job should come back to find its request free."""
        spacing = self.limit.spacing_s  # slots at the full pace; `take` holds the rest back
        wanted = max(wanted, now, self._blocked_until)
        index = max(math.ceil(wanted / spacing), self._calendar_from)
        self._forget_past(math.floor(now / spacing))
        free = self._find(index)
        self._full[free] = free + 1
        return max(wanted, free * spacing)

    def _find(self, index: int) -> int:
        root = index
        while root in self._full:
            root = self._full[root]
        while index != root:  # path compression
            self._full[index], index = root, self._full[index]
        return root

    def _forget_past(self, current: int) -> None:
        # Lookups start at `_calendar_from` and only ever move forward: slots before it are
        # never visited again.
        if current <= self._calendar_from:
            return
        if len(self._full) < current - self._calendar_from:
            stale = [slot for slot in self._full if slot < current]
        else:
            stale = [slot for slot in range(self._calendar_from, current) if slot in self._full]
        for slot in stale:
            del self._full[slot]
        self._calendar_from = current


MAX_BATCH = 8


def batch_size(limit: Limit) -> int:
    """How many requests one reservation takes: one per hundred the limit allows a window,
    between 1 and `MAX_BATCH`."""
    return max(1, min(MAX_BATCH, int(limit.count // 100)))


def shared_spacing_s(limit: Limit, batch: int) -> float:
    """The pace when requests are reserved `batch` at a time (see the module's docstring);
    with batches of one, the in-process pacer's own pace."""
    if batch <= 1 or limit.count <= 2 * batch:
        return limit.spacing_s
    return limit.window_s / ((limit.count - 2 * batch) * SAFETY)


class SharedPacer:
    """One provider's budget for one kind of request, kept in the shared store; the requests
    of a reservation not yet spent are held here."""

    def __init__(self, provider: str, kind: Kind, limit: Limit, store: SharesBudgets) -> None:
        self.provider = provider
        self.kind = kind
        self.limit = limit
        self.local = Pacer(limit)  # the booking calendar, and this process's view of the pace
        self.batch = batch_size(limit)
        self.spacing = shared_spacing_s(limit, self.batch)
        self.tolerance = self.spacing if limit.count > 2 else 0.0
        self._store = store
        self._held = 0  # requests reserved and not spent yet
        self._held_until = -math.inf  # ...which may be spent until then
        self._refused_until = -math.inf  # the database said no request is free before then
        self._reserving = asyncio.Lock()  # one reservation at a time; waiters in turn
        self.round_trips = 0

    async def take(self, now: float) -> float:
        """Spend the next request: 0 when one may be sent now (it counts as sent), else the
        seconds until one may (nothing is spent then)."""
        if self._spend(now):
            return 0.0
        if now < self._refused_until:
            return self._refused_until - now
        async with self._reserving:
            if self._spend(now):  # another coroutine reserved meanwhile...
                return 0.0
            if now < self._refused_until:  # ...or was refused
                return self._refused_until - now
            self.round_trips += 1
            first, spacing, ready_at = await self._store.reserve_requests(
                self.provider,
                self.kind,
                now=now,
                count=self.batch,
                spacing_s=self.spacing,
                tolerance_s=self.tolerance,
                recovery_s=RECOVERY_S,
            )
            # The shared time only moves forward: no request beyond those held is free
            # before `ready_at`, so until then nobody here asks the database again.
            self._refused_until = ready_at
            if first is None:
                return max(0.0, ready_at - now)
            self._held = self.batch - 1
            self._held_until = first + (self.batch - 1) * spacing
            return 0.0

    def _spend(self, now: float) -> bool:
        if self._held > 0 and now <= self._held_until:
            self._held -= 1
            return True
        return False

    async def throttled(self, now: float, retry_after_s: float | None) -> None:
        """The provider answered 429: every replica halves its pace and sends nothing of this
        kind before `Retry-After` (one spacing when it said nothing)."""
        wait = retry_after_s if retry_after_s is not None else self.local.spacing_s(now)
        self.local.throttled(now, retry_after_s)
        self._held = 0
        self._refused_until = max(self._refused_until, now + wait)
        await self._store.throttle_requests(
            self.provider,
            self.kind,
            now=now,
            wait_s=wait,
            min_factor=MIN_FACTOR,
            recovery_s=RECOVERY_S,
        )


class Budgets:
    """Every provider's pacers; a provider or kind without a limit is never held back. With a
    store that `SharesBudgets` (PostgreSQL), the pacers are shared by every replica
    (`SharedPacer`); otherwise they are this process's own."""

    def __init__(
        self, limits: Mapping[str, ProviderLimits], shared: SharesBudgets | None = None
    ) -> None:
        self._pacers: dict[tuple[str, str], Pacer] = {}
        self._shared: dict[tuple[str, str], SharedPacer] = {}
        for name, own in limits.items():
            for kind in KINDS:
                limit: Limit | None = getattr(own, kind)
                if limit is None:
                    continue
                if shared is None:
                    self._pacers[(name, kind)] = Pacer(limit)
                else:
                    pacer = SharedPacer(name, kind, limit, shared)
                    self._shared[(name, kind)] = pacer
                    self._pacers[(name, kind)] = pacer.local

    @property
    def shared(self) -> bool:
        """Whether the budgets are kept in the shared store."""
        return bool(self._shared)

    def pacer(self, provider: str, kind: Kind) -> Pacer | None:
        """This process's pacer for this provider and kind, if it has a limit (with shared
        budgets: its booking calendar and its view of the pace)."""
        return self._pacers.get((provider, kind))

    async def take(self, provider: str, kind: Kind, now: float) -> float:
        """0 when a request may be sent now (spent), else the seconds until one may."""
        shared = self._shared.get((provider, kind))
        if shared is not None:
            return await shared.take(now)
        pacer = self._pacers.get((provider, kind))
        return 0.0 if pacer is None else pacer.take(now)

    def book(self, provider: str, kind: Kind, now: float, wanted: float) -> float:
        """When a job wanting a request at `wanted` should come back (`wanted` itself when
        the provider has no limit)."""
        pacer = self._pacers.get((provider, kind))
        return wanted if pacer is None else pacer.book(now, wanted)

    async def throttled(
        self, provider: str, kind: Kind, now: float, retry_after: float | None
    ) -> None:
        """The provider answered 429 to a request of this kind."""
        shared = self._shared.get((provider, kind))
        if shared is not None:
            await shared.throttled(now, retry_after)
            return
        pacer = self._pacers.get((provider, kind))
        if pacer is not None:
            pacer.throttled(now, retry_after)
