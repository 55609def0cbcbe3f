"""The `Store` on PostgreSQL (asyncpg): a connection pool shared by every replica's process.

The same contract as `storage/sqlite.py`, method for method, for several bot processes on one
database. Each method is one transaction at READ COMMITTED. What SQLite gets from its single
writer, PostgreSQL gets from locks taken where they matter:
- a quota reservation takes transaction-level advisory locks on the user and the workspace (in
  one global order, so two reservations never deadlock), then applies the core's decision
  (`quota.admission`) to what is committed, then inserts: nobody is charged past a limit,
  however many processes reserve at once;
- `claim_due` locks due rows with `FOR UPDATE SKIP LOCKED` and leases them in the same
  statement, so two replicas never claim the same job;
- transitions and updates are single compare-and-set statements (`WHERE state = ANY(...)`,
  `WHERE version = ...`) with the ledger change in the same transaction;
- migrations run under a session advisory lock, so replicas that start together apply each
  one once, recorded in `schema_version`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import secrets
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Collection,
    Iterable,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from dataclasses import replace
from importlib import resources
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from bot import moderation, quota
from bot.channels import COLUMNS as CHANNEL_COLUMNS
from bot.channels import EVERY_CHANNEL, ChannelBudget, ChannelRule
from bot.errors import ConfigurationError
from bot.models import (
    ACTIVE_STATES,
    DM_WORKSPACE,
    TERMINAL_STATES,
    Authority,
    DailySpend,
    GenerationRequest,
    Job,
    JobState,
    LimitOverride,
    MediaRole,
    Origin,
    QuotaLimits,
    QuotaPeriod,
    QuotaUsage,
    UsageRow,
)
from bot.ports import LedgerAction
from bot.refs import load_refs
from storage import listen as job_events
from storage import postgres_budgets
from storage._keys import as_schedule, user_pattern
from storage._shards_postgres import PostgresShards
from storage.urls import shown

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
POOL_MIN_SIZE = 1
POOL_MAX_SIZE = 10
CONNECT_TIMEOUT_S = 10.0
# Files in the database are rows of at most this many bytes (a blob is read one row at a time).
BLOB_CHUNK_BYTES = 1024 * 1024
_ACTIVE = sorted(ACTIVE_STATES)
# "Active" in the words of the partial index jobs_due (postgres/0001_schema.sql): the planner
# uses a partial index only for a query whose condition implies the index's own.
_TERMINAL_WORDS = ("delivered", "failed", "timed_out", "cancelled")
if set(_TERMINAL_WORDS) != {state.value for state in TERMINAL_STATES}:
    raise RuntimeError("the condition of the index jobs_due no longer matches TERMINAL_STATES")
ACTIVE_AS_INDEXED = "state NOT IN (" + ", ".join(f"'{word}'" for word in _TERMINAL_WORDS) + ")"
_TERMINAL_IN_WORDS = ", ".join(f"'{word}'" for word in _TERMINAL_WORDS)

Connection: TypeAlias = "PoolConnectionProxy[asyncpg.Record] | asyncpg.Connection[asyncpg.Record]"


def _displayable(text: str) -> str:
    # PostgreSQL's text cannot hold U+0000, which a provider's error message may carry.
    return text.replace("\x00", "\ufffd")


# Job fields that `transition` and `update` may change, with their column and encoder.
_COLUMNS: dict[str, tuple[str, Any]] = {
    "progress": ("progress", int),
    "provider_job_id": ("provider_job_id", str),
    "submit_attempts": ("submit_attempts", int),
    "poll_failures": ("poll_failures", int),
    "delivery_failures": ("delivery_failures", int),
    "due_at": ("due_at", float),
    "deadline_at": ("deadline_at", float),
    "result_url": ("result_url", str),
    "result_bytes": ("result_bytes", int),
    "downloaded_bytes": ("downloaded_bytes", int),
    "delivery_refs": ("delivery_refs", lambda refs: json.dumps(refs.stored())),
    "error_code": ("error_code", str),
    "error_message": ("error_message", lambda value: _displayable(str(value))),
    "origin": ("origin", Origin.model_dump_json),
    "owner": ("owner", str),
    "owner_until": ("owner_until", float),
    "likely_done_at": ("likely_done_at", float),
    "leased_by": ("leased_by", str),
}


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) for every file in storage/migrations/postgres, in order."""
    found = []
    for entry in resources.files("storage").joinpath("migrations", "postgres").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return found


def lock_key(name: str) -> int:
    """A stable 64-bit advisory-lock key for `name`, the same in every process."""
    digest = hashlib.blake2b(f"veo-bot:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def _lock(db: Connection, *names: str) -> None:
    """Take transaction-level advisory locks on `names`, always in the order of their keys, so
    that two transactions locking overlapping names wait for each other, never deadlock."""
    keys = sorted({lock_key(name) for name in names})
    await db.execute("SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k", keys)


def _affected(status: str) -> int:
    """Rows a command touched, from its status tag ("UPDATE 3", "INSERT 0 1")."""
    return int(status.rsplit(" ", 1)[-1])


def _record_to_job(row: asyncpg.Record) -> Job:
    refs = row["delivery_refs"]
    return Job(
        id=row["id"],
        origin=Origin.model_validate_json(row["origin"]),
        request=GenerationRequest.model_validate_json(row["request"]),
        provider=row["provider"],
        model=row["model"],
        state=JobState(row["state"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        deadline_at=row["deadline_at"],
        cost_s=row["cost_s"],
        cost_micro_usd=row["cost_micro_usd"],
        due_at=row["due_at"],
        provider_job_id=row["provider_job_id"],
        progress=row["progress"],
        submit_attempts=row["submit_attempts"],
        poll_failures=row["poll_failures"],
        delivery_failures=row["delivery_failures"],
        result_url=row["result_url"],
        result_bytes=row["result_bytes"],
        downloaded_bytes=row["downloaded_bytes"],
        delivery_refs=load_refs(row["platform"], json.loads(refs)) if refs else None,
        error_code=row["error_code"],
        error_message=row["error_message"],
        version=row["version"],
        leased_by=row["leased_by"],
        owner=row["owner"],
        owner_until=row["owner_until"],
        group_id=row["group_id"],
        take=row["take"],
        likely_done_at=row["likely_done_at"],
    )


def _claimed(job: Job, previous: str | None, holder: str | None) -> Job:
    """A job a claim leased: with the worker whose lease ran out, when it was another's."""
    if previous is None or previous == holder:
        return job
    return replace(job, lease_taken_from=previous)


def _record_to_override(row: asyncpg.Record) -> LimitOverride:
    return LimitOverride(
        scope=row["scope"],
        subject=row["subject"],
        set_by=Authority(row["set_by"]),
        daily_s=row["daily_s"],
        concurrent=row["concurrent"],
        monthly_s=row["monthly_s"],
        daily_micro_usd=row["daily_micro_usd"],
        monthly_micro_usd=row["monthly_micro_usd"],
    )


def _record_to_rule(row: asyncpg.Record) -> ChannelRule:
    return ChannelRule(
        workspace_key=row["workspace_key"],
        channel_id=row["channel_id"],
        open=row["open"],
        provider=row["provider"],
        model=row["model"],
        aspect_ratio=row["aspect_ratio"],
        private=row["private"],
        daily_s=row["daily_s"],
        person_generation=row["person_generation"],
    )


def _assignments(changes: dict[str, object], first: int) -> tuple[str, list[object]]:
    """`, column = $n` for each change, numbering parameters from `first`, and their values."""
    sets: list[str] = []
    params: list[object] = []
    for name, value in as_schedule(changes).items():
        if name not in _COLUMNS:
            raise ValueError(f"job field {name!r} cannot be changed")
        column, encode = _COLUMNS[name]
        sets.append(f", {column} = ${first + len(params)}")
        params.append(None if value is None else encode(value))
    return "".join(sets), params


# The moment a job first reaches each of these states, kept for the model's completion times.
_MOMENTS = {JobState.SUBMITTED: "submitted_at", JobState.SUCCEEDED: "provider_done_at"}


async def apply_migrations(db: Connection) -> list[str]:
    """Bring the schema up to date; return the names of the migrations applied (none when it
    was). Under a session advisory lock on the schema: a replica that starts while another
    migrates waits, then finds nothing left to do."""
    await db.execute(
        "SELECT pg_advisory_lock(hashtextextended('veo-bot:migrate:' || current_schema(), 0))"
    )
    try:
        await db.execute(
            """CREATE TABLE IF NOT EXISTS schema_version (
                   version     integer PRIMARY KEY,
                   name        text NOT NULL,
                   applied_at  timestamptz NOT NULL DEFAULT now())"""
        )
        current = int(await db.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))
        known = migrations()
        if current > len(known):
            raise ConfigurationError(
                f"the database is at schema version {current}, newer than this veo-bot "
                f"({len(known)}); upgrade veo-bot"
            )
        applied = []
        for version, name, sql in known[current:]:
            # PostgreSQL's DDL is transactional: a migration applies whole or not at all.
            async with db.transaction():
                await db.execute(sql)
                await db.execute(
                    "INSERT INTO schema_version (version, name) VALUES ($1, $2)", version, name
                )
            applied.append(name)
        return applied
    finally:
        await db.execute(
            "SELECT pg_advisory_unlock(hashtextextended('veo-bot:migrate:' || current_schema(), 0))"
        )


async def _connect(url: str) -> asyncpg.Connection[asyncpg.Record]:
    try:
        return await asyncpg.connect(url, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise ConfigurationError(f"cannot open the database at {shown(url)}: {exc}") from None


async def migrate(url: str) -> tuple[int, list[str]]:
    """Apply what is missing and nothing else (`veo-bot migrate`): the schema version now, and
    the migrations applied."""
    db = await _connect(url)
    try:
        applied = await apply_migrations(db)
        version = int(await db.fetchval("SELECT MAX(version) FROM schema_version"))
    except asyncpg.PostgresError as exc:
        # The server refused the schema change: a missing schema, a role without CREATE, …
        raise ConfigurationError(f"cannot migrate the database at {shown(url)}: {exc}") from None
    finally:
        await db.close()
    return version, applied


class PostgresStore(PostgresShards):
    """The `Store` on PostgreSQL for replicas on one database (advisory locks, SKIP LOCKED)."""

    def __init__(self, pool: asyncpg.Pool[asyncpg.Record], url: str = "") -> None:
        self._pool = pool
        self._url = url  # for the connection that listens for job events

    @classmethod
    async def open(
        cls, url: str, *, min_size: int = POOL_MIN_SIZE, max_size: int = POOL_MAX_SIZE
    ) -> PostgresStore:
        """Migrate the database (waiting for a replica that is migrating it), then open a pool
        of `min_size`..`max_size` connections. Parameters in the URL's query (`search_path`,
        `sslmode`) apply to every connection."""
        await migrate(url)
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=min_size,
                max_size=max_size,
                timeout=CONNECT_TIMEOUT_S,
                # Short queries only: compiling them to machine code costs more than it saves.
                server_settings={"jit": "off"},
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise ConfigurationError(f"cannot open the database at {shown(url)}: {exc}") from None
        return cls(pool, url)

    async def schema_version(self) -> int:
        """The highest migration applied."""
        return int(await self._pool.fetchval("SELECT MAX(version) FROM schema_version"))

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        async with self._pool.acquire() as db:
            yield db

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        """One transaction on a pooled connection: committed when the block ends, rolled back
        when it raises (or is cancelled)."""
        async with self._pool.acquire() as db, db.transaction():
            yield db

    async def close(self) -> None:
        """Close the connection pool."""
        await self._pool.close()

    async def ping(self) -> None:
        """Raise unless the database answers."""
        await self._pool.fetchval("SELECT 1")

    async def notify(self, event: str, job_id: str) -> None:
        """NOTIFY every listening replica of `event` about the job (channel `veo_jobs`)."""
        await self._pool.execute(
            "SELECT pg_notify($1, $2)", job_events.CHANNEL, job_events.payload(event, job_id)
        )

    async def listen(self, on_notice: Callable[[str, str], None]) -> job_events.PostgresListener:
        """LISTEN for job events on a connection of its own (see `storage.listen`)."""
        listener = job_events.PostgresListener(self._url, on_notice)
        await listener.start()
        return listener

    # --- jobs ---------------------------------------------------------------------------

    async def create_job(
        self,
        job: Job,
        media: Sequence[tuple[MediaRole, int, bytes]],
        limits: QuotaLimits,
        period: QuotaPeriod,
        *,
        idempotency_key: str | None = None,
    ) -> Job:
        """Insert the job and reserve its quota under the user's and workspace's advisory locks."""
        origin = job.origin
        async with self._transaction() as db:
            # Every reservation for this user or this workspace, and every job with this key,
            # waits here for the one before it to commit: what it reads next is final. A
            # channel is inside its workspace: the workspace's lock covers its daily budget.
            names = [f"quota:user:{origin.user_key}", f"quota:workspace:{origin.workspace_key}"]
            if idempotency_key is not None:
                names.append(f"idempotency:{idempotency_key}")
            await _lock(db, *names)
            if idempotency_key is not None:
                existing = await db.fetchrow(
                    "SELECT * FROM jobs WHERE idempotency_key = $1", idempotency_key
                )
                if existing is not None:
                    return _record_to_job(existing)
            if await self._refuse_over_quota(
                db,
                origin,
                job.cost_s,
                limits,
                period,
                now=job.created_at,
                cost_micro_usd=job.cost_micro_usd,
            ):
                job = replace(job, state=JobState.QUEUED)
            await self._insert_job(db, job, media, period, idempotency_key)
        return job

    async def create_jobs(
        self,
        jobs: Sequence[Job],
        media: Sequence[tuple[MediaRole, int, bytes]],
        limits: QuotaLimits,
        period: QuotaPeriod,
        *,
        idempotency_key: str | None = None,
    ) -> list[Job]:
        """Insert the takes of one request and reserve their quota together, under the same
        advisory locks as `create_job`: all of them, or none (`QuotaExceeded` for their sum)."""
        first = jobs[0]
        origin = first.origin
        async with self._transaction() as db:
            names = [f"quota:user:{origin.user_key}", f"quota:workspace:{origin.workspace_key}"]
            if idempotency_key is not None:
                names.append(f"idempotency:{idempotency_key}")
            await _lock(db, *names)
            if idempotency_key is not None:
                group_id = await db.fetchval(
                    "SELECT group_id FROM jobs WHERE idempotency_key = $1", idempotency_key
                )
                if group_id is not None:
                    rows = await db.fetch(
                        "SELECT * FROM jobs WHERE group_id = $1 ORDER BY take", group_id
                    )
                    return [_record_to_job(row) for row in rows]
            prices = [job.cost_micro_usd for job in jobs]
            # Over the concurrency limit the request waits as a whole (`start_queued` starts
            # every take of it at once).
            if await self._refuse_over_quota(
                db,
                origin,
                sum(job.cost_s for job in jobs),
                limits,
                period,
                now=first.created_at,
                cost_micro_usd=None if None in prices else sum(p or 0 for p in prices),
            ):
                jobs = [replace(job, state=JobState.QUEUED) for job in jobs]
            for job in jobs:
                key = idempotency_key if job.take == 0 else None
                await self._insert_job(db, job, media, period, key)
        return list(jobs)

    @staticmethod
    async def _insert_job(
        db: Connection,
        job: Job,
        media: Sequence[tuple[MediaRole, int, bytes]],
        period: QuotaPeriod,
        idempotency_key: str | None,
    ) -> None:
        """Write the job, its images and its quota reservation (inside the caller's
        transaction, after its quota check)."""
        origin = job.origin
        await db.execute(
            """INSERT INTO jobs (id, platform, user_key, workspace_key, origin, request,
                   provider, model, state, progress, due_at, deadline_at, cost_s,
                   created_at, updated_at, version, idempotency_key, cost_micro_usd,
                   owner, owner_until, group_id, take)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11, $12, $13, $14,
                   0, $15, $16, $17, $18, $19, $20)""",
            job.id,
            origin.platform,
            origin.user_key,
            origin.workspace_key,
            origin.model_dump_json(),
            job.request.model_dump_json(),
            job.provider,
            job.model,
            job.state.value,
            job.due_at,
            job.deadline_at,
            job.cost_s,
            job.created_at,
            job.updated_at,
            idempotency_key,
            job.cost_micro_usd,
            job.owner,
            job.owner_until,
            job.group_id,
            job.take,
        )
        if media:
            await db.executemany(
                "INSERT INTO job_media (job_id, role, position, data) VALUES ($1, $2, $3, $4)",
                [(job.id, role.value, pos, data) for role, pos, data in media],
            )
        await db.execute(
            """INSERT INTO quota_ledger (job_id, user_key, workspace_key, channel_key, day,
                   month, seconds, status, created_at, updated_at, micro_usd)
               VALUES ($1, $2, $3, $4, $5, $6, $7, 'reserved', $8, $8, $9)""",
            job.id,
            origin.user_key,
            origin.workspace_key,
            origin.channel_key,
            period.day,
            period.month,
            job.cost_s,
            job.created_at,
            job.cost_micro_usd or 0,
        )

    async def group_jobs(self, group_id: str) -> list[Job]:
        """The takes of one request for several videos, in take order."""
        rows = await self._pool.fetch(
            "SELECT * FROM jobs WHERE group_id = $1 ORDER BY take", group_id
        )
        return [_record_to_job(row) for row in rows]

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
        """Raise what `create_job` would raise for `cost_s` (and `cost_micro_usd`, None: price
        unknown) now, reserving nothing."""
        async with self._connection() as db:
            await self._refuse_over_quota(
                db, origin, cost_s, limits, period, now=now, cost_micro_usd=cost_micro_usd
            )

    async def _refuse_over_quota(
        self,
        db: Connection,
        origin: Origin,
        cost_s: float,
        limits: QuotaLimits,
        period: QuotaPeriod,
        *,
        now: float,
        cost_micro_usd: int | None,
    ) -> bool:
        """Raise the refusal a job of `cost_s` for `origin` meets now, if any: the store
        reads, `quota.admission` decides. Else whether the job waits (`quota.must_wait`)."""
        blocked = bool(
            await db.fetchval("SELECT 1 FROM blocked_users WHERE user_key = $1", origin.user_key)
        )
        in_force = await self._limits(db, origin.user_key, origin.workspace_key, limits)
        usage = await self._usage(db, origin.user_key, origin.workspace_key, period)
        refused = quota.admission(
            blocked=blocked,
            limits=in_force,
            usage=usage,
            cost_s=cost_s,
            period=period,
            now=now,
            channel=await self._channel_budget(db, origin, period),
            cost_micro_usd=cost_micro_usd,
        )
        if refused is not None:
            raise refused
        queued = await db.fetchval(
            "SELECT COUNT(*) FROM jobs WHERE user_key = $1 AND state = 'queued'",
            origin.user_key,
        )
        return quota.must_wait(in_force, usage, queued=int(queued or 0))

    @staticmethod
    async def _channel_budget(
        db: Connection, origin: Origin, period: QuotaPeriod
    ) -> ChannelBudget | None:
        """The channel's daily budget (its own, else the workspace's for every channel) and
        what today has used of it; None when no rule sets one."""
        daily = await db.fetchval(
            """SELECT daily_s FROM channel_rules
               WHERE workspace_key = $1 AND channel_id IN ($2, $3) AND daily_s IS NOT NULL
               ORDER BY channel_id = $3 LIMIT 1""",
            origin.workspace_key,
            origin.channel_id,
            EVERY_CHANNEL,
        )
        if daily is None:
            return None
        used = await PostgresStore._channel_used(db, origin.channel_key, period.day)
        return ChannelBudget(origin.channel_key, float(daily), used)

    @staticmethod
    async def _channel_used(db: Connection, channel_key: str, day: str) -> float:
        used = await db.fetchval(
            """SELECT COALESCE(SUM(seconds), 0) FROM quota_ledger
               WHERE channel_key = $1 AND day = $2 AND status IN ('reserved', 'settled')""",
            channel_key,
            day,
        )
        return float(used)

    async def get_job(self, job_id: str) -> Job | None:
        """The job with this id, or None."""
        row = await self._pool.fetchrow("SELECT * FROM jobs WHERE id = $1", job_id)
        return _record_to_job(row) if row else None

    async def load_media(self, job_id: str) -> dict[tuple[MediaRole, int], bytes]:
        """The job's stored input files, by role and position."""
        rows = await self._pool.fetch(
            "SELECT role, position, data FROM job_media WHERE job_id = $1", job_id
        )
        return {(MediaRole(r["role"]), r["position"]): bytes(r["data"]) for r in rows}

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
        """Compare-and-set the state, settling or refunding the reservation in one transaction."""
        sets, params = _assignments(changes, first=5)
        if (moment := _MOMENTS.get(to_state)) is not None:
            sets += f", {moment} = COALESCE({moment}, $2)"
        states = [s.value for s in from_states]
        async with self._transaction() as db:
            row = await db.fetchrow(
                f"""UPDATE jobs SET state = $1, updated_at = $2, version = version + 1{sets}
                    WHERE id = $3 AND state = ANY($4::text[])
                    RETURNING *""",  # noqa: S608 - column names come from _COLUMNS
                to_state.value,
                now,
                job_id,
                states,
                *params,
            )
            if row is None:
                return None
            if ledger is not None:
                await db.execute(
                    """UPDATE quota_ledger SET status = $1, updated_at = $2
                       WHERE job_id = $3 AND status = 'reserved'""",
                    ledger.value,
                    now,
                    job_id,
                )
            if to_state.is_terminal:
                # A slot may have freed: the requester's waiting jobs look again at once.
                await db.execute(
                    """UPDATE jobs SET due_at = $1, version = version + 1
                       WHERE state = 'queued' AND due_at > $1 AND user_key = $2""",
                    now,
                    row["user_key"],
                )
            return _record_to_job(row)

    async def start_queued(
        self, job_id: str, defaults: QuotaLimits, *, now: float, deadline_at: float
    ) -> Job | None:
        """Move a waiting job to `pending` (due now, its deadline `deadline_at`) when it is
        the requester's oldest waiting one and they have a slot free, under the user's
        quota lock (the one `create_job` takes); None when it waits on."""
        async with self._transaction() as db:
            user_key = await db.fetchval("SELECT user_key FROM jobs WHERE id = $1", job_id)
            if user_key is None:
                return None
            await _lock(db, f"quota:user:{user_key}")
            row = await db.fetchrow("SELECT * FROM jobs WHERE id = $1", job_id)
            if row is None or row["state"] != JobState.QUEUED.value:
                return None
            first = await db.fetchrow(
                """SELECT id, group_id FROM jobs WHERE user_key = $1 AND state = 'queued'
                   ORDER BY created_at, id LIMIT 1""",
                user_key,
            )
            if first is None or not (
                first["id"] == job_id
                or (row["group_id"] is not None and first["group_id"] == row["group_id"])
            ):
                return None
            workspace = row["workspace_key"]
            limits = await self._limits(db, user_key, workspace, defaults)
            usage = await self._usage(db, user_key, workspace, quota.period_at(now))
            if usage.in_flight >= limits.user_concurrent:
                return None
            # The request starts whole: every take of it that waits (one job for most).
            await db.execute(
                """UPDATE jobs SET state = 'pending', due_at = $1, deadline_at = $2,
                       updated_at = $1, version = version + 1
                   WHERE state = 'queued' AND (id = $3 OR group_id = $4)""",
                now,
                deadline_at,
                job_id,
                row["group_id"],
            )
            started = await db.fetchrow("SELECT * FROM jobs WHERE id = $1", job_id)
            # Those behind it moved up: their cards show it at once.
            await db.execute(
                """UPDATE jobs SET due_at = $1, version = version + 1
                   WHERE user_key = $2 AND state = 'queued' AND due_at > $1""",
                now,
                user_key,
            )
            return _record_to_job(started) if started is not None else None

    async def queue_ahead(self, job_id: str) -> int:
        """How many of the requester's waiting jobs go before this one (0: it is next)."""
        ahead = await self._pool.fetchval(
            """SELECT COUNT(*) FROM jobs AS o, jobs AS j
               WHERE j.id = $1 AND o.user_key = j.user_key AND o.state = 'queued'
                 AND (o.created_at < j.created_at
                      OR (o.created_at = j.created_at AND o.id < j.id))""",
            job_id,
        )
        return int(ahead or 0)

    async def update(
        self, job_id: str, *, version: int, now: float, **changes: object
    ) -> Job | None:
        """Change fields if the job is still at `version` (optimistic lock)."""
        sets, params = _assignments(changes, first=4)
        row = await self._pool.fetchrow(
            f"""UPDATE jobs SET updated_at = $1, version = version + 1{sets}
                WHERE id = $2 AND version = $3
                RETURNING *""",  # noqa: S608 - column names come from _COLUMNS
            now,
            job_id,
            version,
            *params,
        )
        return _record_to_job(row) if row else None

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
        """Lease due jobs owned by `owner` (None: unowned ones) to `holder`, skipping rows
        another replica is claiming."""
        plats = list(platforms)
        if not plats or limit <= 0:
            return []
        # SKIP LOCKED: a due job another replica is claiming right now is left to it, not
        # waited for; one it has claimed is no longer due (its lease moved due_at). Closest
        # to its likely completion first (see `Job.likely_done_at`), in the order returned.
        rows = await self._pool.fetch(
            f"""WITH due AS (
                    SELECT id, COALESCE(likely_done_at, due_at) AS rank,
                           leased_by AS previous FROM jobs
                    WHERE {ACTIVE_AS_INDEXED}
                      AND due_at <= $1 AND platform = ANY($2::text[])
                      AND NOT (id = ANY($3::text[]))
                      AND owner IS NOT DISTINCT FROM $6
                    ORDER BY rank, due_at LIMIT $4
                    FOR UPDATE SKIP LOCKED)
                UPDATE jobs SET due_at = $5, leased_by = $7, version = version + 1
                FROM due WHERE jobs.id = due.id
                RETURNING jobs.*, due.rank AS claim_rank, due.previous""",  # noqa: S608 - fixed words
            now,
            plats,
            list(exclude),
            limit,
            now + lease_s,
            owner,
            holder,
        )
        ordered = sorted(rows, key=lambda row: row["claim_rank"])
        return [_claimed(_record_to_job(row), row["previous"], holder) for row in ordered]

    async def renew_leases(
        self, job_ids: Collection[str], *, holder: str, until: float
    ) -> list[str]:
        """Extend to `until` the leases `holder` still holds on these active jobs (its
        heartbeat while it steps them), changing no version; the ids it still holds."""
        if not job_ids:
            return []
        rows = await self._pool.fetch(
            """UPDATE jobs SET due_at = GREATEST(due_at, $1)
               WHERE id = ANY($2::text[]) AND leased_by = $3 AND state = ANY($4::text[])
               RETURNING id""",
            until,
            list(job_ids),
            holder,
            _ACTIVE,
        )
        return sorted(str(row["id"]) for row in rows)

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
        """A batch of requests from the shared budget (`bot.ports.SharesBudgets`)."""
        return await postgres_budgets.reserve(
            self._pool,
            provider,
            kind,
            now=now,
            count=count,
            spacing_s=spacing_s,
            tolerance_s=tolerance_s,
            recovery_s=recovery_s,
        )

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
        """A 429: every replica slows down (`bot.ports.SharesBudgets`)."""
        await postgres_budgets.throttle(
            self._pool,
            provider,
            kind,
            now=now,
            wait_s=wait_s,
            min_factor=min_factor,
            recovery_s=recovery_s,
        )

    async def next_due_at(
        self,
        platforms: Collection[str],
        *,
        exclude: Collection[str] = (),
        owner: str | None = None,
    ) -> float | None:
        """When the next active job of these platforms owned by `owner` is due, or None."""
        plats = list(platforms)
        if not plats:
            return None
        due = await self._pool.fetchval(
            f"""SELECT MIN(due_at) FROM jobs
                WHERE {ACTIVE_AS_INDEXED}
                  AND platform = ANY($1::text[]) AND NOT (id = ANY($2::text[]))
                  AND owner IS NOT DISTINCT FROM $3""",  # noqa: S608
            plats,
            list(exclude),
            owner,
        )
        return None if due is None else float(due)

    async def lease_holders(self, *, now: float, platforms: Collection[str]) -> list[str]:
        """The workers holding a lease that has not run out on an active job of these
        platforms."""
        plats = list(platforms)
        if not plats:
            return []
        rows = await self._pool.fetch(
            f"""SELECT DISTINCT leased_by FROM jobs
                WHERE {ACTIVE_AS_INDEXED} AND platform = ANY($1::text[])
                  AND leased_by IS NOT NULL AND due_at > $2
                ORDER BY leased_by""",  # noqa: S608 - fixed words
            plats,
            now,
        )
        return [str(row[0]) for row in rows]

    async def reschedule_active(
        self,
        *,
        now: float,
        platforms: Collection[str],
        holders: Collection[str] = (),
        owner: str | None = None,
        unheld: bool = False,
    ) -> int:
        """Make due now the active jobs of these platforms owned by `owner` that are not due
        yet and whose lease is held by one of `holders` (dead workers), and with `unheld`
        those that name no holder; return how many."""
        plats = list(platforms)
        if not plats:
            return 0
        status = await self._pool.execute(
            """UPDATE jobs SET due_at = $1, version = version + 1
               WHERE state = ANY($2::text[]) AND platform = ANY($3::text[])
                 AND owner IS NOT DISTINCT FROM $4 AND due_at > $1
                 AND (leased_by = ANY($5::text[]) OR ($6 AND leased_by IS NULL))""",
            now,
            _ACTIVE,
            plats,
            owner,
            list(holders),
            unheld,
        )
        return _affected(status)

    async def renew_ownership(self, owner: str, *, until: float) -> int:
        """Vouch for `owner`'s active jobs until `until` (its heartbeat; 0 gives them up)."""
        status = await self._pool.execute(
            """UPDATE jobs SET owner_until = $1
               WHERE owner = $2 AND state = ANY($3::text[])""",
            until,
            owner,
            _ACTIVE,
        )
        return _affected(status)

    async def expired_jobs(self, *, finished_before: float, limit: int) -> list[Job]:
        """Finished jobs last changed before `finished_before` whose files are still kept."""
        # In the words of the partial index jobs_unpurged.
        rows = await self._pool.fetch(
            f"""SELECT * FROM jobs
                WHERE purged_at IS NULL AND state IN ({_TERMINAL_IN_WORDS})
                  AND updated_at < $1
                ORDER BY updated_at LIMIT $2""",  # noqa: S608 - fixed words
            finished_before,
            limit,
        )
        return [_record_to_job(row) for row in rows]

    async def mark_purged(self, job_id: str, *, now: float) -> None:
        """Delete the job's stored inputs and record that its files are gone."""
        async with self._transaction() as db:
            await db.execute("DELETE FROM job_media WHERE job_id = $1", job_id)
            await db.execute("UPDATE jobs SET purged_at = $1 WHERE id = $2", now, job_id)

    async def count_by_state(self) -> dict[JobState, int]:
        """How many jobs are in each state."""
        rows = await self._pool.fetch("SELECT state, COUNT(*) FROM jobs GROUP BY state")
        return {JobState(row[0]): int(row[1]) for row in rows}

    async def recent_jobs(self, limit: int, user_key: str | None = None) -> list[Job]:
        """The latest jobs, newest first; only this user's when given."""
        if user_key:
            rows = await self._pool.fetch(
                "SELECT * FROM jobs WHERE user_key = $1 ORDER BY created_at DESC LIMIT $2",
                user_key,
                limit,
            )
        else:
            rows = await self._pool.fetch(
                "SELECT * FROM jobs ORDER BY created_at DESC LIMIT $1", limit
            )
        return [_record_to_job(row) for row in rows]

    async def recent_durations(self, model: str, limit: int) -> list[float]:
        """Seconds from submit to done at the provider of the model's latest successful jobs,
        newest first."""
        rows = await self._pool.fetch(
            """SELECT provider_done_at - submitted_at FROM jobs
               WHERE model = $1 AND provider_done_at IS NOT NULL AND submitted_at IS NOT NULL
               ORDER BY provider_done_at DESC LIMIT $2""",
            model,
            limit,
        )
        return [max(0.0, row[0]) for row in rows]

    async def user_history(
        self, user_key: str, *, limit: int, before: tuple[float, str] | None = None
    ) -> list[Job]:
        """One page of the user's jobs, newest first, after the keyset `before`."""
        if before is None:
            rows = await self._pool.fetch(
                "SELECT * FROM jobs WHERE user_key = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
                user_key,
                limit,
            )
        else:
            rows = await self._pool.fetch(
                "SELECT * FROM jobs WHERE user_key = $1 AND (created_at, id) < ($2, $3) "
                "ORDER BY created_at DESC, id DESC LIMIT $4",
                user_key,
                before[0],
                before[1],
                limit,
            )
        return [_record_to_job(row) for row in rows]

    async def home_workspace(self, platform: str, user_id: str) -> str | None:
        """The workspace of the user's latest job on the platform, None when there is none."""
        found = await self._pool.fetchval(
            "SELECT workspace_key FROM jobs WHERE platform = $1 AND user_key LIKE $2 ESCAPE '!' "
            "AND workspace_key <> $3 ORDER BY created_at DESC, id DESC LIMIT 1",
            platform,
            user_pattern(platform, user_id),
            f"{platform}:{DM_WORKSPACE}",
        )
        return str(found).partition(":")[2] if found is not None else None

    # --- quota --------------------------------------------------------------------------

    async def quota_usage(
        self, user_key: str, workspace_key: str, period: QuotaPeriod
    ) -> QuotaUsage:
        """What the user and the workspace have used in `period`, and what is in flight."""
        async with self._connection() as db:
            return await self._usage(db, user_key, workspace_key, period)

    @staticmethod
    async def _usage(
        db: Connection, user_key: str, workspace_key: str, period: QuotaPeriod
    ) -> QuotaUsage:
        row = await db.fetchrow(
            """SELECT
                 (SELECT COALESCE(SUM(seconds), 0) FROM quota_ledger
                   WHERE user_key = $1 AND day = $2 AND status IN ('reserved', 'settled')
                     AND created_at > COALESCE(
                       (SELECT reset_at FROM quota_day_resets WHERE user_key = $1 AND day = $2),
                       -1)),
                 (SELECT COUNT(*) FROM quota_ledger AS l
                   WHERE l.user_key = $1 AND l.status = 'reserved'
                     AND NOT EXISTS (SELECT 1 FROM jobs AS j
                                     WHERE j.id = l.job_id AND j.state = 'queued')),
                 (SELECT COALESCE(SUM(seconds), 0) FROM quota_ledger
                   WHERE workspace_key = $3 AND month = $4
                     AND status IN ('reserved', 'settled')),
                 (SELECT COALESCE(SUM(micro_usd), 0) FROM quota_ledger
                   WHERE user_key = $1 AND day = $2 AND status IN ('reserved', 'settled')
                     AND created_at > COALESCE(
                       (SELECT reset_at FROM quota_day_resets WHERE user_key = $1 AND day = $2),
                       -1)),
                 (SELECT COALESCE(SUM(micro_usd), 0) FROM quota_ledger
                   WHERE workspace_key = $3 AND month = $4
                     AND status IN ('reserved', 'settled'))""",
            user_key,
            period.day,
            workspace_key,
            period.month,
        )
        assert row is not None
        return QuotaUsage(
            user_key=user_key,
            used_today_s=float(row[0]),
            in_flight=int(row[1]),
            workspace_used_month_s=float(row[2]),
            spent_today_micro_usd=int(row[3]),
            workspace_spent_month_micro_usd=int(row[4]),
        )

    # --- what admins steer ----------------------------------------------------------------

    async def effective_limits(
        self, user_key: str, workspace_key: str, defaults: QuotaLimits
    ) -> QuotaLimits:
        """The limits in force: the defaults under the subject's overrides."""
        async with self._connection() as db:
            return await self._limits(db, user_key, workspace_key, defaults)

    async def limit_overrides(
        self, user_key: str | None, workspace_key: str
    ) -> list[LimitOverride]:
        """Every authority's overrides for the workspace, and for the user when given."""
        async with self._connection() as db:
            return await self._overrides(db, user_key, workspace_key)

    @staticmethod
    async def _limits(
        db: Connection, user_key: str, workspace_key: str, defaults: QuotaLimits
    ) -> QuotaLimits:
        overrides = await PostgresStore._overrides(db, user_key, workspace_key)
        return quota.effective_limits(defaults, overrides)

    @staticmethod
    async def _overrides(
        db: Connection, user_key: str | None, workspace_key: str
    ) -> list[LimitOverride]:
        rows = await db.fetch(
            """SELECT * FROM quota_overrides
               WHERE (scope = 'workspace' AND subject = $1)
                  OR (scope = 'user' AND subject = $2)""",
            workspace_key,
            user_key,
        )
        return [_record_to_override(row) for row in rows]

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
        """Set the given limits for a user or workspace, as `set_by`'s word; limits not given
        stay as they were."""
        await self._pool.execute(
            """INSERT INTO quota_overrides (scope, subject, set_by, daily_s, concurrent,
                   monthly_s, updated_at, daily_micro_usd, monthly_micro_usd)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
               ON CONFLICT (scope, subject, set_by) DO UPDATE SET
                   daily_s = COALESCE(excluded.daily_s, quota_overrides.daily_s),
                   concurrent = COALESCE(excluded.concurrent, quota_overrides.concurrent),
                   monthly_s = COALESCE(excluded.monthly_s, quota_overrides.monthly_s),
                   daily_micro_usd = COALESCE(
                       excluded.daily_micro_usd, quota_overrides.daily_micro_usd),
                   monthly_micro_usd = COALESCE(
                       excluded.monthly_micro_usd, quota_overrides.monthly_micro_usd),
                   updated_at = excluded.updated_at""",
            scope,
            subject,
            set_by.value,
            daily_s,
            concurrent,
            monthly_s,
            now,
            daily_micro_usd,
            monthly_micro_usd,
        )

    async def clear_override(
        self, scope: str, subject: str, *, set_by: Authority | None = None
    ) -> bool:
        """Remove `set_by`'s limits for the subject (everyone's when None)."""
        status = await self._pool.execute(
            """DELETE FROM quota_overrides
               WHERE scope = $1 AND subject = $2 AND ($3::text IS NULL OR set_by = $3)""",
            scope,
            subject,
            set_by.value if set_by else None,
        )
        return _affected(status) > 0

    async def overrides(self) -> list[LimitOverride]:
        """Every override of every subject, by scope, subject and authority."""
        rows = await self._pool.fetch(
            "SELECT * FROM quota_overrides ORDER BY scope, subject, set_by"
        )
        return [_record_to_override(row) for row in rows]

    # --- channel rules ----------------------------------------------------------------------

    async def channel_rules(self, workspace_key: str) -> list[ChannelRule]:
        """Every rule of the workspace (its every-channel row included), by channel id."""
        rows = await self._pool.fetch(
            "SELECT * FROM channel_rules WHERE workspace_key = $1 ORDER BY channel_id",
            workspace_key,
        )
        return [_record_to_rule(row) for row in rows]

    async def set_channel_rule(
        self, workspace_key: str, channel_id: str, changes: Mapping[str, object], *, now: float
    ) -> ChannelRule:
        """Change the named columns of the channel's rule (None: back to nothing said), the
        others kept; a rule left saying nothing is removed. Returns the rule after."""
        unknown = set(changes) - set(CHANNEL_COLUMNS)
        if unknown:
            raise ValueError(f"channel rule fields {sorted(unknown)} do not exist")
        sets = "".join(f", {column} = ${n}" for n, column in enumerate(changes, start=4))
        async with self._transaction() as db:
            await db.execute(
                """INSERT INTO channel_rules (workspace_key, channel_id, updated_at)
                   VALUES ($1, $2, $3)
                   ON CONFLICT (workspace_key, channel_id) DO NOTHING""",
                workspace_key,
                channel_id,
                now,
            )
            row = await db.fetchrow(
                f"""UPDATE channel_rules SET updated_at = $3{sets}
                    WHERE workspace_key = $1 AND channel_id = $2 RETURNING *""",  # noqa: S608 - checked columns
                workspace_key,
                channel_id,
                now,
                *changes.values(),
            )
            assert row is not None
            rule = _record_to_rule(row)
            if rule.is_empty:
                await db.execute(
                    "DELETE FROM channel_rules WHERE workspace_key = $1 AND channel_id = $2",
                    workspace_key,
                    channel_id,
                )
            return rule

    async def clear_channel_rule(self, workspace_key: str, channel_id: str) -> bool:
        """Forget everything said about the channel; returns whether anything was."""
        status = await self._pool.execute(
            "DELETE FROM channel_rules WHERE workspace_key = $1 AND channel_id = $2",
            workspace_key,
            channel_id,
        )
        return _affected(status) > 0

    async def workspace_locale(self, workspace_key: str) -> str | None:
        """The language the workspace fixed for everyone; None: each person's own."""
        locale = await self._pool.fetchval(
            "SELECT locale FROM workspace_locales WHERE workspace_key = $1", workspace_key
        )
        return None if locale is None else str(locale)

    async def set_workspace_locale(
        self, workspace_key: str, locale: str | None, *, now: float
    ) -> None:
        """Fix the workspace's language; None forgets it."""
        if locale is None:
            await self._pool.execute(
                "DELETE FROM workspace_locales WHERE workspace_key = $1", workspace_key
            )
            return
        await self._pool.execute(
            """INSERT INTO workspace_locales (workspace_key, locale, updated_at)
               VALUES ($1, $2, $3)
               ON CONFLICT (workspace_key) DO UPDATE
               SET locale = excluded.locale, updated_at = excluded.updated_at""",
            workspace_key,
            locale,
            now,
        )

    async def channel_used_today(self, channel_key: str, day: str) -> float:
        """Seconds reserved or charged in the channel on `day`."""
        async with self._connection() as db:
            return await self._channel_used(db, channel_key, day)

    async def reset_day(self, user_key: str, day: str, *, now: float) -> None:
        """Start the user's day afresh: what was charged before now no longer counts today."""
        await self._pool.execute(
            """INSERT INTO quota_day_resets (user_key, day, reset_at) VALUES ($1, $2, $3)
               ON CONFLICT (user_key, day) DO UPDATE SET reset_at = excluded.reset_at""",
            user_key,
            day,
            now,
        )

    async def set_blocked(self, user_key: str, blocked: bool, *, now: float) -> bool:
        """Block or unblock; returns whether anything changed."""
        if blocked:
            status = await self._pool.execute(
                """INSERT INTO blocked_users (user_key, blocked_at) VALUES ($1, $2)
                   ON CONFLICT (user_key) DO NOTHING""",
                user_key,
                now,
            )
        else:
            status = await self._pool.execute(
                "DELETE FROM blocked_users WHERE user_key = $1", user_key
            )
        return _affected(status) > 0

    async def blocked_users(self) -> list[str]:
        """The user keys of everyone blocked, in order."""
        rows = await self._pool.fetch("SELECT user_key FROM blocked_users ORDER BY user_key")
        return [row[0] for row in rows]

    async def banned_terms(self, workspace_key: str) -> list[str]:
        """The workspace's banned terms, in order."""
        rows = await self._pool.fetch(
            "SELECT term FROM banned_terms WHERE workspace_key = $1 ORDER BY term",
            workspace_key,
        )
        return [row[0] for row in rows]

    async def set_banned_term(
        self,
        workspace_key: str,
        term: str,
        banned: bool,
        *,
        now: float,
        max_terms: int | None = None,
    ) -> bool:
        """Add or remove a term; the room for one more is decided under the workspace's lock."""
        async with self._transaction() as db:
            if banned and max_terms is not None:
                # Two admins adding at once must not both find room for the last term.
                await _lock(db, f"banned:{workspace_key}")
                row = await db.fetchrow(
                    """SELECT COUNT(*), COALESCE(BOOL_OR(term = $1), false) FROM banned_terms
                       WHERE workspace_key = $2""",
                    term,
                    workspace_key,
                )
                count, present = (int(row[0]), bool(row[1])) if row else (0, False)
                if count >= max_terms and not present:
                    raise moderation.too_many_terms()
            if banned:
                status = await db.execute(
                    """INSERT INTO banned_terms (workspace_key, term, added_at)
                       VALUES ($1, $2, $3) ON CONFLICT (workspace_key, term) DO NOTHING""",
                    workspace_key,
                    term,
                    now,
                )
            else:
                status = await db.execute(
                    "DELETE FROM banned_terms WHERE workspace_key = $1 AND term = $2",
                    workspace_key,
                    term,
                )
            return _affected(status) > 0

    async def usage_report(self, month: str, workspace_key: str | None = None) -> list[UsageRow]:
        """Seconds per user for a month, most first: charged (settled) and still in flight."""
        rows = await self._pool.fetch(
            """SELECT user_key, workspace_key, COUNT(*) AS jobs,
                   SUM(CASE WHEN status = 'settled' THEN seconds ELSE 0 END) AS settled_s,
                   SUM(CASE WHEN status = 'reserved' THEN seconds ELSE 0 END) AS reserved_s,
                   SUM(CASE WHEN status = 'refunded' THEN 1 ELSE 0 END) AS refunded,
                   SUM(CASE WHEN status = 'settled' THEN micro_usd ELSE 0 END) AS settled_usd,
                   SUM(CASE WHEN status = 'reserved' THEN micro_usd ELSE 0 END) AS reserved_usd
               FROM quota_ledger
               WHERE month = $1 AND ($2::text IS NULL OR workspace_key = $2)
               GROUP BY user_key, workspace_key
               ORDER BY SUM(CASE WHEN status IN ('settled', 'reserved') THEN seconds
                                 ELSE 0 END) DESC,
                        user_key""",
            month,
            workspace_key or None,
        )
        return [
            UsageRow(
                user_key=row["user_key"],
                workspace_key=row["workspace_key"],
                jobs=int(row["jobs"]),
                settled_s=float(row["settled_s"]),
                reserved_s=float(row["reserved_s"]),
                refunded_jobs=int(row["refunded"]),
                settled_micro_usd=int(row["settled_usd"]),
                reserved_micro_usd=int(row["reserved_usd"]),
            )
            for row in rows
        ]

    async def daily_spend(self, month: str, workspace_key: str | None = None) -> list[DailySpend]:
        """Money charged (settled) per person and UTC day in `month`, by day then person."""
        rows = await self._pool.fetch(
            """SELECT day, user_key, SUM(micro_usd) AS spent FROM quota_ledger
               WHERE month = $1 AND status = 'settled'
                 AND ($2::text IS NULL OR workspace_key = $2)
               GROUP BY day, user_key ORDER BY day, user_key""",
            month,
            workspace_key or None,
        )
        return [DailySpend(row["day"], row["user_key"], int(row["spent"])) for row in rows]

    async def ledger(self, job_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Ledger rows (for reports and tests)."""
        ids = list(job_ids or [])
        rows = await self._pool.fetch(
            """SELECT * FROM quota_ledger
               WHERE cardinality($1::text[]) = 0 OR job_id = ANY($1::text[])
               ORDER BY created_at""",
            ids,
        )
        return [dict(row) for row in rows]

    # --- result links -------------------------------------------------------------------

    async def revoke_result(self, job_id: str, *, by: str, now: float) -> bool:
        """Record that the job's result link must stop working; False if already revoked."""
        status = await self._pool.execute(
            """INSERT INTO result_revocations (job_id, revoked_by, revoked_at)
               VALUES ($1, $2, $3) ON CONFLICT (job_id) DO NOTHING""",
            job_id,
            by,
            now,
        )
        return _affected(status) == 1

    async def result_revoked(self, job_id: str) -> bool:
        """Whether the job's result link was revoked."""
        found = await self._pool.fetchval(
            "SELECT 1 FROM result_revocations WHERE job_id = $1", job_id
        )
        return found is not None

    # --- secrets ------------------------------------------------------------------------

    async def get_or_create_secret(self, name: str) -> str:
        """The named secret; replicas starting together all read the one that was inserted first."""
        async with self._transaction() as db:
            # Two replicas starting together: one insert wins, both read the winner's value.
            await db.execute(
                "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                name,
                secrets.token_urlsafe(32),
            )
            return str(await db.fetchval("SELECT value FROM secrets WHERE name = $1", name))

    # --- blobs ----------------------------------------------------------------------------

    async def put_blob(self, name: str, chunks: AsyncIterable[bytes], *, now: float) -> int:
        """Store the bytes `chunks` yields as the blob `name` (replacing one of that name), in
        rows of at most BLOB_CHUNK_BYTES, one statement each: never more than one row in
        memory. Readers see the old blob (or none) until the last row is in. Returns the
        size."""
        upload = secrets.token_hex(12)
        seq = 0
        size = 0
        buffer = bytearray()
        try:
            async for piece in chunks:
                buffer += piece
                while len(buffer) >= BLOB_CHUNK_BYTES:
                    await self._put_chunk(upload, name, seq, bytes(buffer[:BLOB_CHUNK_BYTES]))
                    del buffer[:BLOB_CHUNK_BYTES]
                    seq += 1
                    size += BLOB_CHUNK_BYTES
            if buffer or seq == 0:
                await self._put_chunk(upload, name, seq, bytes(buffer))
                size += len(buffer)
            async with self._transaction() as db:
                old = await db.fetchval("SELECT upload FROM blobs WHERE name = $1 FOR UPDATE", name)
                await db.execute(
                    """INSERT INTO blobs (name, upload, size, created_at) VALUES ($1, $2, $3, $4)
                       ON CONFLICT (name) DO UPDATE SET upload = excluded.upload,
                           size = excluded.size, created_at = excluded.created_at""",
                    name,
                    upload,
                    size,
                    now,
                )
                if old is not None:
                    await db.execute("DELETE FROM blob_chunks WHERE upload = $1", old)
        except BaseException:
            await asyncio.shield(self._drop_upload(upload))
            raise
        return size

    async def _put_chunk(self, upload: str, name: str, seq: int, data: bytes) -> None:
        await self._pool.execute(
            "INSERT INTO blob_chunks (upload, name, seq, data) VALUES ($1, $2, $3, $4)",
            upload,
            name,
            seq,
            data,
        )

    async def _drop_upload(self, upload: str) -> None:
        with contextlib.suppress(asyncpg.PostgresError, OSError, asyncpg.InterfaceError):
            await self._pool.execute("DELETE FROM blob_chunks WHERE upload = $1", upload)

    async def blob_size(self, name: str) -> int | None:
        """The size of the blob `name`, None when there is none."""
        size = await self._pool.fetchval("SELECT size FROM blobs WHERE name = $1", name)
        return None if size is None else int(size)

    async def read_blob(self, name: str) -> AsyncIterator[bytes]:
        """The blob's bytes, one row at a time; `FileNotFoundError` when there is none, or
        when it is deleted or replaced while being read."""
        row = await self._pool.fetchrow("SELECT upload, size FROM blobs WHERE name = $1", name)
        if row is None:
            raise FileNotFoundError(f"no stored file {name}")
        upload, size = str(row["upload"]), int(row["size"])
        seq = 0
        read = 0
        while read < size:
            data = await self._pool.fetchval(
                "SELECT data FROM blob_chunks WHERE upload = $1 AND seq = $2", upload, seq
            )
            if data is None or not data:
                raise FileNotFoundError(f"stored file {name} went away while it was read")
            read += len(data)
            seq += 1
            yield bytes(data)

    async def delete_blobs(self, names: Collection[str]) -> int:
        """Delete these blobs, with the rows of any upload of them a crash cut short; how
        many blobs there were."""
        wanted = list(names)
        if not wanted:
            return 0
        async with self._transaction() as db:
            status = await db.execute("DELETE FROM blobs WHERE name = ANY($1::text[])", wanted)
            await db.execute("DELETE FROM blob_chunks WHERE name = ANY($1::text[])", wanted)
        return _affected(status)
