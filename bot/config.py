"""How the job service is tuned: the operator's settings, as the core reads them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.budget import ProviderLimits
from bot.models import QuotaLimits
from bot.workers import new_worker_id


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """How the job service behaves: defaults, limits, intervals, timeouts; built from settings."""

    default_provider: str
    limits: QuotaLimits
    work_dir: Path
    default_model: str | None = None
    poll_interval_s: float = 10.0
    job_timeout_s: float = 1200.0
    max_result_bytes: int = 2 * 1024**3
    max_submit_attempts: int = 5
    max_failures: int = 8
    backoff_cap_s: float = 300.0
    # How long a claimed job is reserved for the worker that claimed it: short, and renewed
    # every third of it while a step runs, so that a replica that dies (or stops renewing)
    # loses its jobs to another within `lease_s`.
    lease_s: float = 30.0
    # The most one delivery (download, re-encodes, upload) may take before it is abandoned and
    # tried again later.
    delivery_timeout_s: float = 240.0
    # How long a result link works, for videos too large to upload even re-encoded.
    result_link_ttl_s: float = 7 * 86400.0
    # Commands (/veo, Re-roll, Extend, Animate) one person may send per minute; 0: no limit.
    # Settings give the operator's value (VEO_USER_COMMANDS_PER_MINUTE).
    commands_per_minute: int = 0
    # How long a finished job's files are kept: its input images, the local renderer's files,
    # a result kept on disk; and how often the sweep that removes them runs.
    retention_s: float = 7 * 86400.0
    purge_interval_s: float = 3600.0
    # Each provider's request budgets (submits, status reads): its published limits with the
    # operator's VEO_BUDGET_* over them; a provider missing here is never held back.
    budgets: Mapping[str, ProviderLimits] = field(default_factory=dict)
    # How often a job whose provider calls back is polled all the same (the safety net);
    # None: as often as any other.
    webhook_poll_interval_s: float | None = None
    # This process among those sharing the database: it holds the leases it claims under
    # this id. `owns_jobs`: the jobs it creates are its own (`veo-bot try`), stepped by no
    # other process while its heartbeat, every `owner_lease_s / 3`, keeps them vouched for.
    worker_id: str = field(default_factory=new_worker_id)
    owns_jobs: bool = False
    owner_lease_s: float = 30.0
    # How often a job waiting at the bot for a slot looks again even when no job of its
    # requester's ended (an admin raised the limit; a process died mid-step).
    queue_recheck_s: float = 60.0

    @property
    def owner(self) -> str | None:
        """Whose jobs this process steps: its own (`owns_jobs`), else the unowned ones."""
        return self.worker_id if self.owns_jobs else None

    @property
    def results_dir(self) -> Path:
        """Where videos served by result links are kept until their links expire."""
        return self.work_dir / "results"
