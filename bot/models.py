"""The data that flows through the core: requests, origins, jobs and their states."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer, model_validator

from bot.refs import Refs, load_refs


class JobState(enum.StrEnum):
    """Where a job is in its life; delivered, failed, timed out and cancelled are final."""

    # Waiting at the bot for one of the requester's slots (over the concurrency limit):
    # its seconds are reserved, nothing is sent to the provider yet.
    QUEUED = "queued"
    PENDING = "pending"
    SUBMITTED = "submitted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """Whether the job is over (delivered, failed, timed out or cancelled) for good."""
        return self in TERMINAL_STATES

    @property
    def at_provider(self) -> bool:
        """The provider owns the job: poll it."""
        return self in (JobState.SUBMITTED, JobState.RUNNING)


TERMINAL_STATES = frozenset(
    {JobState.DELIVERED, JobState.FAILED, JobState.TIMED_OUT, JobState.CANCELLED}
)
ACTIVE_STATES = frozenset(set(JobState) - TERMINAL_STATES)


class MediaRole(enum.StrEnum):
    """What an input file is for: a first or last frame, a reference, a video to extend."""

    FIRST_FRAME = "first_frame"
    LAST_FRAME = "last_frame"
    REFERENCE = "reference"
    SOURCE_VIDEO = "source_video"


class ImageInput(BaseModel):
    """An image fetched by the adapter from the platform; `data` is never serialised."""

    model_config = ConfigDict(frozen=True)

    data: bytes = Field(default=b"", exclude=True, repr=False)
    mime: str
    width: int
    height: int
    filename: str = ""

    @property
    def size_bytes(self) -> int:
        """The image's size in bytes, for the limits on inputs."""
        return len(self.data)


class GenerationRequest(BaseModel):
    """What a person asked for, as the core understands it, before or after validation."""

    model_config = ConfigDict(frozen=True)

    prompt: str
    negative_prompt: str | None = None
    provider: str | None = None
    model: str | None = None
    duration_s: int | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    seed: int | None = None
    audio: bool | None = None
    first_frame: ImageInput | None = None
    last_frame: ImageInput | None = None
    reference_images: tuple[ImageInput, ...] = ()
    # The provider-side URI of an earlier result to extend (Veo 3.1 extension).
    source_video: str | None = None
    extras: dict[str, Any] = Field(default_factory=dict)
    # The result goes to the requester alone, sent to them directly and never shown in the
    # channel (a channel rule, or their own choice).
    private: bool = False
    # How many takes of this request the job makes: more than 1 only for a model that makes
    # several in one call (Vertex `sampleCount`); elsewhere each take is a job of its own, in
    # a group (`Job.group_id`), whose request says 1 (`bot.variants`).
    count: int = 1

    def media(self) -> list[tuple[MediaRole, int, ImageInput]]:
        """Every image with its role and position, in a stable order."""
        items: list[tuple[MediaRole, int, ImageInput]] = []
        if self.first_frame is not None:
            items.append((MediaRole.FIRST_FRAME, 0, self.first_frame))
        if self.last_frame is not None:
            items.append((MediaRole.LAST_FRAME, 0, self.last_frame))
        items.extend((MediaRole.REFERENCE, i, img) for i, img in enumerate(self.reference_images))
        return items

    def with_media(self, blobs: dict[tuple[MediaRole, int], bytes]) -> GenerationRequest:
        """The same request with image bytes put back (they are stored apart from the job)."""

        def fill(role: MediaRole, pos: int, img: ImageInput | None) -> ImageInput | None:
            if img is None:
                return None
            return img.model_copy(update={"data": blobs.get((role, pos), b"")})

        refs = tuple(
            fill(MediaRole.REFERENCE, i, img) or img for i, img in enumerate(self.reference_images)
        )
        return self.model_copy(
            update={
                "first_frame": fill(MediaRole.FIRST_FRAME, 0, self.first_frame),
                "last_frame": fill(MediaRole.LAST_FRAME, 0, self.last_frame),
                "reference_images": refs,
            }
        )


# The workspace of a direct message with the bot from someone who has used the bot in no
# workspace of that platform yet (a Discord DM otherwise counts under their home server).
DM_WORKSPACE = "dm"


class Origin(BaseModel):
    """Where a request came from and where its answers go. Plain ids only, so a new process can
    resume the job; `refs` holds the platform ids of the status message once posted, in the
    platform's own structure (`bot.refs`)."""

    model_config = ConfigDict(frozen=True)

    platform: str
    workspace_id: str
    channel_id: str
    user_id: str
    thread_id: str | None = None
    locale: str | None = None
    # Asked in a direct message with the bot: answers go there, with no thread to open.
    direct: bool = False
    refs: Refs = Field(default_factory=Refs)

    @model_validator(mode="before")
    @classmethod
    def _platform_refs(cls, data: Any) -> Any:
        """The refs in the structure of the origin's platform, however they came."""
        if isinstance(data, dict) and isinstance(data.get("platform"), str):
            data = {**data, "refs": load_refs(data["platform"], data.get("refs"))}
        return data

    @field_serializer("refs")
    def _stored_refs(self, refs: Refs) -> dict[str, str]:
        return refs.stored()

    @property
    def user_key(self) -> str:
        """The requester's key in quotas and admin lists: `platform:workspace:user`."""
        return f"{self.platform}:{self.workspace_id}:{self.user_id}"

    @property
    def workspace_key(self) -> str:
        """The workspace's key in quotas and admin lists: `platform:workspace`."""
        return f"{self.platform}:{self.workspace_id}"

    @property
    def channel_key(self) -> str:
        """The channel's key in the quota ledger: `platform:workspace:channel` (a thread
        counts as the channel it is in)."""
        return f"{self.platform}:{self.workspace_id}:{self.channel_id}"


@dataclass(frozen=True, slots=True)
class Job:
    """One request for a video and everything known about it, as the store keeps it."""

    id: str
    origin: Origin
    request: GenerationRequest
    provider: str
    model: str
    state: JobState
    created_at: float
    updated_at: float
    deadline_at: float
    cost_s: float
    # What the video costs at the provider, in whole micro-dollars, fixed at submit from the
    # catalog's price (bot.money); None: the model's price is not known.
    cost_micro_usd: int | None = None
    # When the scheduler next looks at the job: the next poll, the retry after a backoff, or
    # the end of the lease of the worker stepping it (a lease that runs out makes it due).
    due_at: float | None = None
    provider_job_id: str | None = None
    progress: int = 0
    submit_attempts: int = 0
    poll_failures: int = 0  # provider readings that failed in a row (and unexpected errors)
    delivery_failures: int = 0  # deliveries of the finished video that failed
    result_url: str | None = None
    result_bytes: int | None = None  # the video as posted (re-encoded to fit, maybe)
    # The video as the provider delivered it: the size of the bot's own copy, recorded once
    # that copy is complete, so that a later delivery run can trust and reuse it.
    downloaded_bytes: int | None = None
    delivery_refs: Refs | None = None
    error_code: str | None = None
    error_message: str | None = None
    version: int = 0
    # The worker (`bot.workers`) that holds the job's current lease, set by each claim.
    leased_by: str | None = None
    # The process that alone steps the job (a `veo-bot try`), and until when its heartbeat
    # vouches for it; None: any server may step it.
    owner: str | None = None
    owner_until: float | None = None
    # When a polled job will likely be done at its provider (`bot.polling`); due jobs are
    # claimed closest to it first. None: no estimate (then `due_at` orders it).
    likely_done_at: float | None = None
    # Set by a claim that took the job from another worker whose lease had run out (dead, or
    # silent: it stopped renewing); for the takeover counter only; never stored.
    lease_taken_from: str | None = None
    # While the provider holds the job in its queue: how many jobs are ahead of it, from the
    # latest reading (fal's queue_position). For the status card only; never stored.
    queue_position: int | None = None
    # While at the provider: how long the model's recent jobs took, in whole minutes (low,
    # high), from `bot.eta`. For the status card only; never stored.
    usual_minutes: tuple[int, int] | None = None
    # The takes of one request for several variants made as jobs of their own share a group
    # id (the first take's job id) and are numbered from 0; None: a job on its own.
    group_id: str | None = None
    take: int = 0

    @property
    def origin_refs(self) -> Refs:
        """The platform refs of the job's status card and thread."""
        return self.origin.refs


class ProviderJobState(enum.StrEnum):
    """A job's state as the provider reports it, in the core's words."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    """One reading of a job at the provider, in the provider-neutral shape."""

    state: ProviderJobState
    progress: int | None = None
    # While queued at the provider: how many jobs are ahead (fal's queue_position), if told.
    queue_position: int | None = None
    video_url: str | None = None
    url_expires_at: float | None = None
    # When the provider failed the job: what to tell people (plain words) and a code for logs.
    error_code: str | None = None
    error_message: str | None = None
    # When the provider says it finished the job (epoch seconds), where it says so.
    finished_at: float | None = None


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    """One provider's answer to `veo-bot doctor`."""

    reachable: bool  # the API answered at all
    key_accepted: bool | None  # None: this provider has no key (local)
    # ids the provider says it serves; None: it does not say
    live_models: frozenset[str] | None = None
    detail: str = ""  # plain words for the operator; never a secret


@dataclass(frozen=True, slots=True)
class QuotaLimits:
    """Seconds a person may make a day and jobs at once; seconds a workspace may a month."""

    user_daily_s: float
    user_concurrent: int
    workspace_monthly_s: float  # 0 = unlimited
    # Money limits in whole micro-dollars (US), 0 = none: a person's day, a workspace's month.
    user_daily_micro_usd: int = 0
    workspace_monthly_micro_usd: int = 0


class Authority(enum.StrEnum):
    """Whose word an admin action carries."""

    # Runs the bot: listed in VEO_ADMINS (in chat), or at the `veo-bot` CLI (shell access).
    OPERATOR = "operator"
    # One workspace's own admin (Discord: Manage Server): lowers limits and shares them out,
    # always inside the operator's caps.
    WORKSPACE_ADMIN = "workspace_admin"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks for an admin action: their authority, and who they are in chat (`user_key`
    None: the CLI, whose user has no chat identity)."""

    authority: Authority
    user_key: str | None = None
    workspace_key: str | None = None  # the workspace a workspace admin speaks for

    @classmethod
    def operator(cls, user_key: str | None = None) -> Actor:
        """The bot's operator (the CLI, or one of VEO_ADMINS) acting."""
        return cls(Authority.OPERATOR, user_key)

    @classmethod
    def workspace_admin(cls, user_key: str, workspace_key: str) -> Actor:
        """An admin of one workspace acting, within that workspace."""
        return cls(Authority.WORKSPACE_ADMIN, user_key, workspace_key)


@dataclass(frozen=True, slots=True)
class LimitOverride:
    """Limits set for one user or workspace by one authority; None leaves a limit as it is."""

    scope: str  # "user" or "workspace"
    subject: str  # the user key or the workspace key
    set_by: Authority
    daily_s: float | None = None
    concurrent: int | None = None
    monthly_s: float | None = None
    daily_micro_usd: int | None = None  # 0: no money limit
    monthly_micro_usd: int | None = None  # 0: no money limit


@dataclass(frozen=True, slots=True)
class QuotaPeriod:
    """The quota windows a moment falls in: the UTC day and the calendar month (UTC)."""

    day: str  # "2026-11-22"
    month: str  # "2026-11"
    day_resets_at: float
    month_resets_at: float


@dataclass(frozen=True, slots=True)
class QuotaUsage:
    """What a person and their workspace have used in the current period, and what is in flight."""

    user_key: str
    used_today_s: float
    in_flight: int
    workspace_used_month_s: float
    # Money reserved or charged, in micro-dollars (jobs of unknown price count nothing).
    spent_today_micro_usd: int = 0
    workspace_spent_month_micro_usd: int = 0


@dataclass(frozen=True, slots=True)
class QuotaReport:
    """What a person sees for `/veo quota`: used, left, when it resets, jobs in flight."""

    used_today_s: float
    daily_limit_s: float
    remaining_today_s: float
    resets_at: float
    in_flight: int
    concurrent_limit: int
    workspace_used_month_s: float
    workspace_monthly_limit_s: float
    # Money in micro-dollars; a limit of 0: none.
    spent_today_micro_usd: int = 0
    daily_limit_micro_usd: int = 0
    workspace_spent_month_micro_usd: int = 0
    workspace_monthly_limit_micro_usd: int = 0


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One user's month in the quota ledger."""

    user_key: str
    workspace_key: str
    jobs: int
    settled_s: float
    reserved_s: float
    refunded_jobs: int
    settled_micro_usd: int = 0
    reserved_micro_usd: int = 0


@dataclass(frozen=True, slots=True)
class DailySpend:
    """Money one person spent (charged or set aside) on one UTC day, for the usage chart."""

    day: str  # "2026-12-04"
    user_key: str
    micro_usd: int


@dataclass(frozen=True, slots=True)
class ResultLink:
    """Where a video too large to upload, even re-encoded, can be watched instead: a signed URL
    on the bot's own web server, working until `expires_at` (epoch seconds)."""

    url: str
    expires_at: float
