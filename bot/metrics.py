"""Counters and latency histograms, exposed at `GET /metrics` in Prometheus' text format.

Small on purpose: a handful of series the bot updates in-process, no global registry, so
every `Metrics` object (one per running bot, one per test) starts from zero.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

Labels = tuple[tuple[str, str], ...]


def _labels(pairs: Labels) -> str:
    if not pairs:
        return ""
    inner = ",".join(
        f'{key}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for key, value in pairs
    )
    return "{" + inner + "}"


class Metrics:
    """Counters and latency histograms in memory, served as Prometheus text at /metrics."""

    def __init__(self) -> None:
        self._counters: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
        self._histograms: dict[str, dict[Labels, list[float]]] = defaultdict(dict)
        self._help: dict[str, str] = {}
        self._buckets: dict[str, tuple[float, ...]] = {}

    def count(self, name: str, help_text: str, amount: float = 1.0, **labels: str) -> None:
        """Add `amount` to a counter with these labels."""
        self._help[name] = help_text
        self._counters[name][tuple(sorted(labels.items()))] += amount

    def observe(
        self,
        name: str,
        help_text: str,
        seconds: float,
        *,
        buckets: tuple[float, ...] = LATENCY_BUCKETS_S,
        **labels: str,
    ) -> None:
        """Record one latency, in seconds, in a histogram with these labels (the buckets
        are the first observation's for that name)."""
        self._help[name] = help_text
        bounds = self._buckets.setdefault(name, buckets)
        key = tuple(sorted(labels.items()))
        counts = self._histograms[name].setdefault(key, [0.0] * (len(bounds) + 2))
        for index, bound in enumerate(bounds):
            if seconds <= bound:
                counts[index] += 1
        counts[-2] += 1  # count
        counts[-1] += seconds  # sum

    def value(self, name: str, **labels: str) -> float:
        """A counter's current value with these labels (0 when never counted)."""
        return self._counters.get(name, {}).get(tuple(sorted(labels.items())), 0.0)

    def render(self, gauges: Iterable[tuple[str, str, dict[Labels, float]]] = ()) -> str:
        """The text exposition; `gauges` are (name, help, series) read at scrape time."""
        lines: list[str] = []
        for name, series in sorted(self._counters.items()):
            lines += [f"# HELP {name} {self._help[name]}", f"# TYPE {name} counter"]
            lines += [f"{name}{_labels(k)} {v:g}" for k, v in sorted(series.items())]
        for name, help_text, gauge in gauges:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            lines += [f"{name}{_labels(k)} {v:g}" for k, v in sorted(gauge.items())]
        for name, histograms in sorted(self._histograms.items()):
            lines += [f"# HELP {name} {self._help[name]}", f"# TYPE {name} histogram"]
            for key, counts in sorted(histograms.items()):
                bounds = (*self._buckets.get(name, LATENCY_BUCKETS_S), math.inf)
                for bound, hits in zip(bounds, counts, strict=False):
                    le = "+Inf" if bound == math.inf else f"{bound:g}"
                    lines.append(f"{name}_bucket{_labels((*key, ('le', le)))} {hits:g}")
                lines.append(f"{name}_count{_labels(key)} {counts[-2]:g}")
                lines.append(f"{name}_sum{_labels(key)} {counts[-1]:g}")
        return "\n".join(lines) + "\n"


# Issue 16 (replicas): claims, lease takeovers, and the wake-ups replicas send each other
# (NOTIFY on channel `veo_jobs`, payload `<event>:<job_id>`), as (name, help) for `count`.
CREATED, CALLBACK, CANCELLED, DUE = "created", "callback", "cancelled", "due"
NOTIFY_EVENTS = (CREATED, CALLBACK, CANCELLED, DUE)
CLAIMS = ("veo_claims_total", "Due jobs this replica claimed.")
LEASE_TAKEOVERS = (
    "veo_lease_takeovers_total",
    "Jobs this replica took over from a worker that died or stopped renewing its lease.",
)
NOTIFY_SENT = ("veo_notify_sent_total", "Job events this replica told the other replicas.")
NOTIFY_RECEIVED = (
    "veo_notify_received_total",
    "Job events this replica heard (its own included), by event.",
)
