"""The three ports through which the core talks to the outside world.

Adapters implement them; the core depends only on these protocols.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from bot.catalog import ModelSpec
from bot.channels import ChannelRule
from bot.models import (
    Authority,
    DailySpend,
    GenerationRequest,
    Job,
    JobState,
    LimitOverride,
    MediaRole,
    Origin,
    ProviderHealth,
    ProviderStatus,
    QuotaLimits,
    QuotaPeriod,
    QuotaUsage,
    ResultLink,
    UsageRow,
)
from bot.refs import Refs
from bot.shards import ShardLeases
from bot.shared_files import Blobs
from bot.variants import TakeVideo


class VideoProvider(Protocol):
    """One video-generation API. Adapters map their wire errors to `bot.errors.ProviderError`."""

    name: str
    # True when submitting the same job id twice cannot start two paid jobs, so a job whose
    # submit call was cut off by a crash can be submitted again on restart.
    idempotent_submit: bool
    # Poll cadence the provider wants, overriding the global interval (None: use the global).
    poll_interval_s: float | None

    async def submit(
        self, job_id: str, request: GenerationRequest, *, callback_url: str | None
    ) -> str:
        """Upload inputs and start the job; return the provider's job id."""
        ...

    async def get_status(self, provider_job_id: str) -> ProviderStatus:
        """Read the job's state at the provider (progress, result URL or error)."""
        ...

    def download(self, status: ProviderStatus) -> AsyncIterator[bytes]:
        """Stream the finished video's bytes."""
        ...

    async def cancel(self, provider_job_id: str) -> bool:
        """Ask the provider to stop the job so that it stops costing money; True when the
        provider confirmed. Providers without a cancel call return False at once."""
        ...

    async def verify_callback(self, headers: Mapping[str, str], body: bytes, *, now: float) -> None:
        """Check the provider's own signature on a callback to this job, raising
        `bot.webhooks.InvalidSignature` when it does not hold. The core has already checked the
        token in the callback URL; providers that do not sign their callbacks return at once."""
        ...

    async def health(self) -> ProviderHealth:
        """One cheap authenticated call (list models, fetch a token) for `veo-bot doctor`:
        whether the API answers, takes the key, and which models it serves. Never raises for
        what the provider answered; the detail says it in plain words, without secrets."""
        ...

    async def aclose(self) -> None:
        """Close the provider's connections."""
        ...


@runtime_checkable
class KeepsFiles(Protocol):
    """A provider that keeps a job's files on this machine (the embedded renderer); they are
    removed with the job's other files once its retention period is over."""

    async def discard(self, provider_job_id: str) -> None:
        """Remove what is kept for this job (nothing happens when nothing is)."""
        ...


@runtime_checkable
class SharesBudgets(Protocol):
    """A store every replica shares (PostgreSQL): the providers' request budgets are kept in
    it (`bot.budget.SharedPacer`), so that all replicas together keep within each budget."""

    async def reserve_requests(
        self,
        provider: str,
        kind: str,
        *,
        now: float,
        count: int,
        spacing_s: float,
        tolerance_s: float,
        recovery_s: float,
    ) -> tuple[float | None, float, float]:
        """Reserve `count` requests of this kind to `provider` at once, `spacing_s` apart
        (wider while a 429's pace recovers over `recovery_s`), if the first may go now (up to
        `tolerance_s` ahead of its turn and not during a 429's pause). Returns the time of the
        first slot (None: refused, nothing reserved), the spacing given, and when the next
        request may go."""
        ...

    async def throttle_requests(
        self,
        provider: str,
        kind: str,
        *,
        now: float,
        wait_s: float,
        min_factor: float,
        recovery_s: float,
    ) -> None:
        """The provider answered 429: halve the shared pace (down to `min_factor`) and hold
        every request of this kind for `wait_s`."""
        ...


@runtime_checkable
class ListsRunningJobs(Protocol):
    """A provider that lists every job still running in one call (useapi's `GET /scheduler`):
    one status call for many jobs; only those missing from the list are read one by one."""

    async def running_jobs(self) -> frozenset[str]:
        """The provider job ids still running now."""
        ...


@runtime_checkable
class MakesSamples(Protocol):
    """A provider whose one job can make several takes (Vertex `sampleCount`; the catalog
    says how many a model makes, `ModelSpec.max_samples`): the first take's job asks for them
    all, and each other take reads and fetches its own video under the id this names."""

    def sample_job_id(self, provider_job_id: str, sample: int) -> str:
        """The provider job id of take `sample` (from 0) of the job `provider_job_id`."""
        ...


@runtime_checkable
class ModelSource(Protocol):
    """A provider that lists its models at run time (OpenRouter's `GET /videos/models`)
    instead of a fixed table, so that a model it adds is offered without a release."""

    name: str

    async def fetch_models(self) -> object:
        """The provider's model listing as it answered (JSON), for `read_models` and the
        cache that serves a restart without network."""
        ...

    def read_models(self, listing: object) -> list[ModelSpec]:
        """Catalog entries from a listing, fresh or cached; empty when none is usable."""
        ...


class ChatSurface(Protocol):
    """Where people asked and where answers go: Discord, Slack, a terminal."""

    platform: str
    # Seconds between two progress edits of one job (platform rate limits).
    progress_interval_s: float

    def upload_limit_bytes(self, job: Job) -> int | None:
        """The largest file this job's destination takes (None: no limit)."""
        ...

    async def post_status(self, job: Job) -> Refs:
        """Post the status card; return the platform refs to keep on the job's origin."""
        ...

    async def find_status(self, job: Job) -> Refs | None:
        """Look for this job's own status card already posted (a crash came between posting
        it and recording it); its refs, as `post_status` returns them, or None."""
        ...

    async def update_progress(self, job: Job) -> None:
        """Show the job's new progress on its status card."""
        ...

    async def find_delivery(self, job: Job) -> Refs | None:
        """Look for this job's own result already posted (a crash between post and record)."""
        ...

    async def deliver(self, job: Job, video: Path, *, notice: str | None) -> Refs:
        """Post the finished video; return the refs of the message that holds it."""
        ...

    async def deliver_link(self, job: Job, link: ResultLink, *, notice: str | None) -> Refs:
        """Post a link to the video instead of the video (too large even re-encoded), with
        the same buttons and parameters; return the refs of the message that holds it."""
        ...

    async def deliver_privately(
        self, job: Job, video: Path, *, link: ResultLink | None, notice: str | None
    ) -> Refs:
        """Send the finished video to the requester alone (a direct message), because the
        place it was asked for refused it for good (the bot removed, the thread deleted or
        archived); with `link`, the link instead of the file. Return the message's refs."""
        ...

    async def report_failure(self, job: Job, message: str) -> None:
        """Tell the requester, on the card or in its thread, why the job failed."""
        ...


@runtime_checkable
class PostsTakes(Protocol):
    """A surface that posts a request's several takes as one message (`bot.variants`); on
    any other each take is posted as a video of its own (a terminal: a file each)."""

    async def deliver_takes(
        self, takes: Sequence[TakeVideo], *, failed: Sequence[Job], notice: str | None
    ) -> list[Refs]:
        """Post the takes as one message: every video that was made (or its link), a Re-roll
        per take and the usual buttons for the first; `failed` are the takes that could not be
        made (refunded), said so on it. Every job given carries the origin of the first take,
        whose card is marked done. Return each take's refs, in order."""
        ...


class LedgerAction(enum.StrEnum):
    """What a state transition does to the job's quota reservation, in the same transaction."""

    SETTLE = "settled"
    REFUND = "refunded"


class Listening(Protocol):
    """Job events being heard from the other processes on the database (`Store.listen`)."""

    async def close(self) -> None:
        """Stop listening."""
        ...


class Store(Blobs, ShardLeases, Protocol):
    """Durable job and quota state: every method the core, the adapters and the CLI call.
    Every method is one transaction; nothing here relies on SQLite-only behaviour, so a
    PostgreSQL implementation can follow the same contract. Policy is not the store's: it
    gathers what `bot.quota` needs and applies its decision in the same transaction."""

    async def create_job(
        self,
        job: Job,
        media: Sequence[tuple[MediaRole, int, bytes]],
        limits: QuotaLimits,
        period: QuotaPeriod,
        *,
        idempotency_key: str | None = None,
    ) -> Job:
        """Insert the job and reserve its quota atomically; raise `QuotaExceeded` otherwise.
        A job already recorded under `idempotency_key` is returned instead, charging nothing."""
        ...

    async def create_jobs(
        self,
        jobs: Sequence[Job],
        media: Sequence[tuple[MediaRole, int, bytes]],
        limits: QuotaLimits,
        period: QuotaPeriod,
        *,
        idempotency_key: str | None = None,
    ) -> list[Job]:
        """Insert the takes of one request for several videos (`bot.variants`), each with the
        same media, and reserve their quota together: all, or none (`QuotaExceeded` for their
        sum). The takes already recorded under `idempotency_key` are returned instead."""
        ...

    async def group_jobs(self, group_id: str) -> list[Job]:
        """The takes of one request for several videos, in take order."""
        ...

    async def check_quota(
        self,
        origin: Origin,
        cost_s: float,
        limits: QuotaLimits,
        period: QuotaPeriod,
        *,
        now: float,
        cost_micro_usd: int | None = None,
    ) -> None:
        """Raise what `create_job` would raise for a job of `cost_s` and `cost_micro_usd`
        (None: price unknown) now (blocked, or a limit passed), reserving nothing: a cheap
        look before expensive work."""
        ...

    async def get_job(self, job_id: str) -> Job | None:
        """The job with this id, or None."""
        ...

    async def load_media(self, job_id: str) -> dict[tuple[MediaRole, int], bytes]:
        """The job's stored input files, by role and position."""
        ...

    async def revoke_result(self, job_id: str, *, by: str, now: float) -> bool:
        """Record that the job's result link must stop working (Delete); False when it was
        revoked already."""
        ...

    async def result_revoked(self, job_id: str) -> bool:
        """Whether the job's result link was revoked (Delete)."""
        ...

    async def transition(
        self,
        job_id: str,
        from_states: Collection[JobState],
        to_state: JobState,
        *,
        now: float,
        ledger: LedgerAction | None = None,
        **changes: object,
    ) -> Job | None:
        """Compare-and-set: move the job if it is in one of `from_states`; return the new job,
        or None when another writer got there first."""
        ...

    async def update(
        self, job_id: str, *, version: int, now: float, **changes: object
    ) -> Job | None:
        """Change fields if the job is still at `version` (optimistic lock)."""
        ...

    async def start_queued(
        self, job_id: str, defaults: QuotaLimits, *, now: float, deadline_at: float
    ) -> Job | None:
        """Move a `queued` job to `pending` (due now, with a fresh `deadline_at`) when it is
        its requester's oldest waiting job and they have a slot free under the limits in force
        (`defaults` and the overrides), checked and done in one transaction; None when it
        waits on, or is no longer waiting. A transition to a final state makes the
        requester's waiting jobs due at once, in its own transaction."""
        ...

    async def queue_ahead(self, job_id: str) -> int:
        """How many of the requester's `queued` jobs go before this one (0: it is next)."""
        ...

    async def claim_due(
        self,
        *,
        now: float,
        lease_s: float,
        limit: int,
        platforms: Collection[str],
        exclude: Collection[str] = (),
        owner: str | None = None,
        holder: str | None = None,
    ) -> list[Job]:
        """Active jobs owned by `owner` (None: unowned ones) whose `due_at` has come, each
        leased to `holder` until `now + lease_s`; never those in `exclude` (jobs this worker
        is still stepping, whose lease may have run out under it)."""
        ...

    async def renew_leases(
        self, job_ids: Collection[str], *, holder: str, until: float
    ) -> list[str]:
        """The heartbeat of a worker stepping these jobs: extend to `until` the leases it
        still holds on them, changing no version. The ids it still holds (a job missing was
        scheduled by its step, finished, or taken by another worker after a lease ran out)."""
        ...

    async def next_due_at(
        self,
        platforms: Collection[str],
        *,
        exclude: Collection[str] = (),
        owner: str | None = None,
    ) -> float | None:
        """When the next active job of these platforms owned by `owner` is due, or None."""
        ...

    async def lease_holders(self, *, now: float, platforms: Collection[str]) -> list[str]:
        """Who holds a lease not yet run out on an active job of these platforms."""
        ...

    async def reschedule_active(
        self,
        *,
        now: float,
        platforms: Collection[str],
        holders: Collection[str] = (),
        owner: str | None = None,
        unheld: bool = False,
    ) -> int:
        """Make due now the jobs of these platforms owned by `owner` leased by one of
        `holders` (dead workers), and with `unheld` those naming no holder (schedules, and
        leases of versions that recorded none: a starting process looks at them at once);
        live leases stay. How many."""
        ...

    async def renew_ownership(self, owner: str, *, until: float) -> int:
        """The owner's heartbeat: vouch for its active jobs until `until` (0 gives them up),
        changing no version. How many."""
        ...

    async def recent_jobs(self, limit: int, user_key: str | None = None) -> list[Job]:
        """The latest jobs, newest first; only this user's when given."""
        ...

    async def recent_durations(self, model: str, limit: int) -> list[float]:
        """Seconds from submit to done at the provider of the model's latest `limit`
        successful jobs, newest first: what the poller and the cards' estimates follow."""
        ...

    async def user_history(
        self, user_key: str, *, limit: int, before: tuple[float, str] | None = None
    ) -> list[Job]:
        """One page of the user's jobs, newest first (by creation, then id): those strictly
        older than the keyset `before` (`created_at`, `id` of the last job of the page before)."""
        ...

    async def home_workspace(self, platform: str, user_id: str) -> str | None:
        """The workspace id of the person's latest job on the platform outside `DM_WORKSPACE`
        (where a direct message with the bot counts), None when they have none."""
        ...

    async def expired_jobs(self, *, finished_before: float, limit: int) -> list[Job]:
        """Finished jobs last changed before `finished_before` whose files are still kept."""
        ...

    async def mark_purged(self, job_id: str, *, now: float) -> None:
        """Delete the job's stored input images and record that its files are gone."""
        ...

    async def count_by_state(self) -> dict[JobState, int]:
        """How many jobs are in each state, for /metrics and `veo-bot status`."""
        ...

    async def quota_usage(
        self, user_key: str, workspace_key: str, period: QuotaPeriod
    ) -> QuotaUsage:
        """What the user and the workspace have used in `period`, and what is in flight."""
        ...

    async def effective_limits(
        self, user_key: str, workspace_key: str, defaults: QuotaLimits
    ) -> QuotaLimits:
        """The limits in force: `quota.effective_limits` over the subject's overrides."""
        ...

    async def limit_overrides(
        self, user_key: str | None, workspace_key: str
    ) -> list[LimitOverride]:
        """Every authority's overrides for the workspace, and for the user when given."""
        ...

    async def set_override(
        self,
        scope: str,
        subject: str,
        *,
        set_by: Authority,
        now: float,
        daily_s: float | None = None,
        concurrent: int | None = None,
        monthly_s: float | None = None,
        daily_micro_usd: int | None = None,
        monthly_micro_usd: int | None = None,
    ) -> None:
        """Set the given limits for a user or workspace, as `set_by`'s word; the others stay."""
        ...

    async def clear_override(
        self, scope: str, subject: str, *, set_by: Authority | None = None
    ) -> bool:
        """Remove `set_by`'s limits for the subject (everyone's when None); whether any were set."""
        ...

    async def overrides(self) -> list[LimitOverride]:
        """Every override of every subject, by scope, subject and authority."""
        ...

    async def reset_day(self, user_key: str, day: str, *, now: float) -> None:
        """Start the user's day afresh: what was charged before `now` no longer counts today."""
        ...

    async def set_blocked(self, user_key: str, blocked: bool, *, now: float) -> bool:
        """Block or unblock a user; returns whether anything changed."""
        ...

    async def blocked_users(self) -> list[str]:
        """The user keys of everyone blocked, in order."""
        ...

    async def banned_terms(self, workspace_key: str) -> list[str]:
        """The workspace's banned terms, in order."""
        ...

    async def set_banned_term(
        self,
        workspace_key: str,
        term: str,
        banned: bool,
        *,
        now: float,
        max_terms: int | None = None,
    ) -> bool:
        """Add or remove a term; returns whether anything changed. Adding to a workspace that
        already holds `max_terms` other terms raises `moderation.too_many_terms()`, decided
        in the same transaction as the insert."""
        ...

    async def usage_report(self, month: str, workspace_key: str | None = None) -> list[UsageRow]:
        """Seconds per user for a month, most first: charged, and still in flight."""
        ...

    async def daily_spend(self, month: str, workspace_key: str | None = None) -> list[DailySpend]:
        """Money charged per person and UTC day in `month` (the usage chart)."""
        ...

    async def channel_rules(self, workspace_key: str) -> list[ChannelRule]:
        """Every channel rule of the workspace (its every-channel row included), by channel."""
        ...

    async def set_channel_rule(
        self, workspace_key: str, channel_id: str, changes: Mapping[str, object], *, now: float
    ) -> ChannelRule:
        """Change the named columns (`bot.channels.COLUMNS`) of the channel's rule, None
        meaning nothing said; a rule left saying nothing is removed. The rule after."""
        ...

    async def clear_channel_rule(self, workspace_key: str, channel_id: str) -> bool:
        """Forget everything said about the channel; returns whether anything was."""
        ...

    async def channel_used_today(self, channel_key: str, day: str) -> float:
        """Seconds reserved or charged in the channel (`Origin.channel_key`) on `day`; the
        stores count the same inside `create_job` against the channel's daily budget."""
        ...

    async def workspace_locale(self, workspace_key: str) -> str | None:
        """The language the workspace fixed for everyone (`bot.languages`); None: each
        person's own."""
        ...

    async def set_workspace_locale(
        self, workspace_key: str, locale: str | None, *, now: float
    ) -> None:
        """Fix the workspace's language; None forgets it (each person's own again)."""
        ...

    async def get_or_create_secret(self, name: str) -> str:
        """The named secret, made once (at random) and the same for every process after."""
        ...

    async def ping(self) -> None:
        """Raise unless the database answers, for /healthz."""
        ...

    async def notify(self, event: str, job_id: str) -> None:
        """Tell every process listening on this database that `event` (`created`,
        `callback`, `cancelled`, `due`) happened to the job: on PostgreSQL a NOTIFY on
        channel `veo_jobs` with payload `<event>:<job_id>`; nothing on SQLite, which one
        server process uses (it wakes its own scheduler directly)."""
        ...

    async def listen(self, on_notice: Callable[[str, str], None]) -> Listening:
        """Call `on_notice(event, job_id)` for each job event any process notifies, on a
        connection of its own, listening again whenever it drops (then `on_notice` hears
        `("listening", "")`, as events may have been missed). Nothing to hear on SQLite."""
        ...

    async def close(self) -> None:
        """Close the database connections."""
        ...
