"""The `Store` on SQLite (aiosqlite): WAL, a busy timeout, numbered migrations.

One writer connection behind an asyncio lock (every write is one `BEGIN IMMEDIATE`
transaction, so check-then-insert stays atomic even against another process) and one reader
connection, which under WAL sees only committed data.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import secrets
import sqlite3
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
from pathlib import Path
from typing import Any

import aiosqlite

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
from storage._keys import as_schedule, user_pattern
from storage._shards_sqlite import SqliteShards

BUSY_TIMEOUT_MS = 5000
# Files in the database are rows of at most this many bytes (a blob is read one row at a time).
BLOB_CHUNK_BYTES = 1024 * 1024


@asynccontextmanager
async def _migrating(path: Path) -> AsyncIterator[None]:
    """Hold the lock that lets one process at a time switch the file to WAL and migrate it.
    Without it, processes opening a new file together can each hold a read lock while waiting
    for the other's, and one gives up "database is locked" after the busy timeout."""
    lock_path = path.with_name(path.name + ".migrating")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ConfigurationError(f"cannot create {lock_path}: {exc}") from exc
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the file drops the lock


_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_ACTIVE = tuple(sorted(ACTIVE_STATES))
# "Active", in the very words of the partial index jobs_due (0001_jobs_and_quota.sql): SQLite
# uses a partial index only for a query whose WHERE repeats the index's own condition, and
# `state IN (<active states>)` does not, so the scheduler's queries below would scan every job
# ever made (and sort them) on each pass.
_TERMINAL_WORDS = ("delivered", "failed", "timed_out", "cancelled")
if set(_TERMINAL_WORDS) != {state.value for state in TERMINAL_STATES}:
    raise RuntimeError("the condition of the index jobs_due no longer matches TERMINAL_STATES")
ACTIVE_AS_INDEXED = "state NOT IN (" + ", ".join(f"'{word}'" for word in _TERMINAL_WORDS) + ")"
_TERMINAL_IN_WORDS = ", ".join(f"'{word}'" for word in _TERMINAL_WORDS)

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
    "delivery_refs": ("delivery_refs_json", lambda refs: json.dumps(refs.stored())),
    "error_code": ("error_code", str),
    "error_message": ("error_message", str),
    "origin": ("origin_json", Origin.model_dump_json),
    "owner": ("owner", str),
    "owner_until": ("owner_until", float),
    "likely_done_at": ("likely_done_at", float),
    "leased_by": ("leased_by", str),
}


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) for every file in storage/migrations, in order."""
    found = []
    for entry in resources.files("storage").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return found


def _probe(path: Path) -> None:
    sqlite3.connect(path).close()


def _statements(sql: str) -> list[str]:
    """A migration file's statements, one at a time (a connection runs one per call), its
    comments kept with the statement they precede."""
    statements: list[str] = []
    pending = ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending)
            pending = ""
    if any(line.strip() and not line.strip().startswith("--") for line in pending.splitlines()):
        statements.append(pending)  # a last statement without its `;`
    return statements


async def _user_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


def _serve_alone(path: Path) -> int:
    """Hold the lock that says a process serves the bot from this database, for as long as the
    process lives (the system drops it when the process ends, however it ends); its file says
    which process. `ConfigurationError` when another process holds it."""
    lock_path = path.with_name(path.name + ".serving")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ConfigurationError(f"cannot create {lock_path}: {exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip()
        os.close(fd)
        raise ConfigurationError(
            f"another `veo-bot run`{f' (process {holder})' if holder.isdigit() else ''} "
            f"already serves the SQLite database {path}, and SQLite serves one bot process "
            "at a time. To run several replicas, use PostgreSQL: "
            "VEO_DATABASE_URL=postgresql://user@host:5432/db"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _release(server_lock: int | None) -> None:
    if server_lock is not None:
        os.close(server_lock)  # closing the file drops the lock


def _placeholders(values: Collection[object]) -> str:
    return ",".join("?" * len(values))


def _excluding(job_ids: Collection[str]) -> tuple[str, list[str]]:
    """A condition that leaves out these jobs (none: no condition), and its parameters."""
    ids = list(job_ids)
    return (f" AND id NOT IN ({_placeholders(ids)})", ids) if ids else ("", [])


def _row_to_job(row: sqlite3.Row) -> Job:
    refs = row["delivery_refs_json"]
    return Job(
        id=row["id"],
        origin=Origin.model_validate_json(row["origin_json"]),
        request=GenerationRequest.model_validate_json(row["request_json"]),
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


def _row_to_override(row: sqlite3.Row) -> LimitOverride:
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


def _row_to_rule(row: sqlite3.Row) -> ChannelRule:
    def flag(value: int | None) -> bool | None:
        return None if value is None else bool(value)

    return ChannelRule(
        workspace_key=row["workspace_key"],
        channel_id=row["channel_id"],
        open=flag(row["open"]),
        provider=row["provider"],
        model=row["model"],
        aspect_ratio=row["aspect_ratio"],
        private=flag(row["private"]),
        daily_s=row["daily_s"],
        person_generation=row["person_generation"],
    )


def _assignments(changes: dict[str, object]) -> tuple[list[str], list[object]]:
    sets: list[str] = []
    params: list[object] = []
    for name, value in as_schedule(changes).items():
        if name not in _COLUMNS:
            raise ValueError(f"job field {name!r} cannot be changed")
        column, encode = _COLUMNS[name]
        sets.append(f"{column} = ?")
        params.append(None if value is None else encode(value))
    return sets, params


class _NotListening:
    """What `SqliteStore.listen` returns: nothing to stop."""

    async def close(self) -> None:
        """Nothing to close."""


def _claimed(job: Job, previous: str | None, holder: str | None) -> Job:
    """A job a claim leased: with the worker whose lease ran out, when it was another's."""
    if previous is None or previous == holder:
        return job
    return replace(job, lease_taken_from=previous)


def _first_in_line(job: Job, first_id: str, first_group: str | None) -> bool:
    """Whether the requester's oldest waiting job (`first_id`, of `first_group`) is `job`
    or another take of its request."""
    return first_id == job.id or (job.group_id is not None and first_group == job.group_id)


# The moment a job first reaches each of these states, kept for the model's completion times.
_MOMENTS = {JobState.SUBMITTED: "submitted_at", JobState.SUCCEEDED: "provider_done_at"}


class SqliteStore(SqliteShards):
    """The `Store` on one SQLite file: one writer connection (serialised), one reader."""

    def __init__(
        self,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        server_lock: int | None = None,
    ) -> None:
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()
        self._server_lock = server_lock

    @classmethod
    async def open(
        cls,
        path: Path | str,
        *,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        sole_server: bool = False,
    ) -> SqliteStore:
        """Open (creating and migrating) the database; `busy_timeout_ms` is how long a write
        waits for another writer's lock before it fails. `sole_server`: this process serves
        the bot, and no other may while it does (`ConfigurationError` when one already does)."""
        path = Path(path)
        await cls._probe(path)
        server_lock = _serve_alone(path) if sole_server else None
        try:
            writer = await cls._connect(path, busy_timeout_ms)
        except BaseException:
            _release(server_lock)
            raise
        try:
            async with _migrating(path):
                await writer.execute("PRAGMA journal_mode = WAL")
                await cls._migrate(writer)
            reader = await cls._connect(path, busy_timeout_ms)
        except BaseException:
            await writer.close()
            _release(server_lock)
            raise
        return cls(writer, reader, server_lock)

    @classmethod
    async def migrate(cls, path: Path) -> tuple[int, list[str]]:
        """Apply what is missing and nothing else (`veo-bot migrate`): the schema version now,
        and the migrations applied."""
        await cls._probe(path)
        writer = await cls._connect(path, BUSY_TIMEOUT_MS)
        try:
            async with _migrating(path):
                await writer.execute("PRAGMA journal_mode = WAL")
                applied = await cls._migrate(writer)
            version = await _user_version(writer)
        finally:
            await writer.close()
        return version, applied

    @staticmethod
    async def _probe(path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # A plain probe first: a path sqlite cannot open gets a clear answer here, and
            # aiosqlite's worker thread never starts for it.
            await asyncio.to_thread(_probe, path)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigurationError(f"cannot open the database at {path}: {exc}") from exc

    @staticmethod
    async def _connect(path: Path, busy_timeout_ms: int) -> aiosqlite.Connection:
        # isolation_level=None: we issue BEGIN / COMMIT ourselves, nothing implicit.
        conn = await aiosqlite.connect(path, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            await conn.execute("PRAGMA foreign_keys = ON")
            await conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            await conn.close()  # its worker thread would otherwise keep the process alive
            raise
        return conn

    @staticmethod
    async def _migrate(conn: aiosqlite.Connection) -> list[str]:
        """Apply each missing migration in its own write transaction, reading the version
        inside it: processes that open a new database together apply each one once (the
        others wait for the write lock, then find it done). Returns the names applied."""
        known = migrations()
        applied: list[str] = []
        while True:
            await conn.execute("BEGIN IMMEDIATE")
            try:
                current = await _user_version(conn)
                if current > len(known):
                    raise ConfigurationError(
                        f"the database is at schema version {current}, newer than this "
                        f"veo-bot ({len(known)}); upgrade veo-bot"
                    )
                if current == len(known):
                    await conn.execute("ROLLBACK")
                    return applied
                version, name, sql = known[current]
                for statement in _statements(sql):
                    await conn.execute(statement)
                # user_version lives in the file header and commits with the schema change.
                await conn.execute(f"PRAGMA user_version = {version}")
                await conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.OperationalError):
                    await conn.execute("ROLLBACK")
                raise
            applied.append(name)

    async def schema_version(self) -> int:
        """The migration the file is at (`PRAGMA user_version`)."""
        return await _user_version(self._reader)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction. Cancellation-safe: a statement already handed to the
        connection's thread still runs, so the ROLLBACK / COMMIT that follows is shielded
        and always queued behind it, and no transaction is ever left open."""
        async with self._write_lock:
            try:
                await self._writer.execute("BEGIN IMMEDIATE")
                yield self._writer
            except BaseException:
                await asyncio.shield(self._rollback())
                raise
            await asyncio.shield(self._writer.execute("COMMIT"))

    async def _rollback(self) -> None:
        # When BEGIN never took effect (busy, or cancelled before it ran) there is nothing to undo.
        with contextlib.suppress(sqlite3.OperationalError):
            await self._writer.execute("ROLLBACK")

    async def close(self) -> None:
        """Close both connections and give up serving this file."""
        async with self._write_lock:
            await self._reader.close()
            await self._writer.close()
        _release(self._server_lock)
        self._server_lock = None

    async def ping(self) -> None:
        """Raise unless the database answers."""
        async with self._reader.execute("SELECT 1") as cur:
            await cur.fetchone()

    async def notify(self, event: str, job_id: str) -> None:
        """Nothing: one server process uses an SQLite file, and wakes its scheduler itself."""

    async def listen(self, on_notice: Callable[[str, str], None]) -> _NotListening:
        """Nothing to hear: no other server process shares an SQLite file."""
        return _NotListening()

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
        """Insert the job and reserve its quota in one write transaction."""
        origin = job.origin
        async with self._transaction() as db:
            if idempotency_key is not None:
                async with db.execute(
                    "SELECT * FROM jobs WHERE idempotency_key = ?", (idempotency_key,)
                ) as cur:
                    existing = await cur.fetchone()
                if existing is not None:
                    return _row_to_job(existing)
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
        """Insert the takes of one request and reserve their quota together in one write
        transaction: all of them, or none (`QuotaExceeded` for their sum)."""
        first = jobs[0]
        origin = first.origin
        async with self._transaction() as db:
            if idempotency_key is not None:
                async with db.execute(
                    "SELECT group_id FROM jobs WHERE idempotency_key = ?", (idempotency_key,)
                ) as cur:
                    existing = await cur.fetchone()
                if existing is not None:
                    async with db.execute(
                        "SELECT * FROM jobs WHERE group_id = ? ORDER BY take",
                        (existing["group_id"],),
                    ) as cur:
                        return [_row_to_job(row) for row in await cur.fetchall()]
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
        db: aiosqlite.Connection,
        job: Job,
        media: Sequence[tuple[MediaRole, int, bytes]],
        period: QuotaPeriod,
        idempotency_key: str | None,
    ) -> None:
        """Write the job, its images and its quota reservation (inside the caller's write
        transaction, after its quota check)."""
        origin = job.origin
        await db.execute(
            """INSERT INTO jobs (id, platform, user_key, workspace_key, origin_json,
                   request_json, provider, model, state, progress, due_at,
                   deadline_at, cost_s, created_at, updated_at, version,
                   idempotency_key, cost_micro_usd, owner, owner_until, group_id, take)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)""",
            (
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
            ),
        )
        await db.executemany(
            "INSERT INTO job_media (job_id, role, position, data) VALUES (?, ?, ?, ?)",
            [(job.id, role.value, pos, data) for role, pos, data in media],
        )
        await db.execute(
            """INSERT INTO quota_ledger (job_id, user_key, workspace_key, channel_key, day,
                   month, seconds, status, created_at, updated_at, micro_usd)
               VALUES (?, ?, ?, ?, ?, ?, ?, 'reserved', ?, ?, ?)""",
            (
                job.id,
                origin.user_key,
                origin.workspace_key,
                origin.channel_key,
                period.day,
                period.month,
                job.cost_s,
                job.created_at,
                job.created_at,
                job.cost_micro_usd or 0,
            ),
        )

    async def group_jobs(self, group_id: str) -> list[Job]:
        """The takes of one request for several videos, in take order."""
        async with self._reader.execute(
            "SELECT * FROM jobs WHERE group_id = ? ORDER BY take", (group_id,)
        ) as cur:
            return [_row_to_job(row) for row in await cur.fetchall()]

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
        await self._refuse_over_quota(
            self._reader, origin, cost_s, limits, period, now=now, cost_micro_usd=cost_micro_usd
        )

    async def _refuse_over_quota(
        self,
        db: aiosqlite.Connection,
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
        async with db.execute(
            "SELECT 1 FROM blocked_users WHERE user_key = ?", (origin.user_key,)
        ) as cur:
            blocked = await cur.fetchone() is not None
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
        return quota.must_wait(in_force, usage, queued=await self._queued(db, origin.user_key))

    @staticmethod
    async def _queued(db: aiosqlite.Connection, user_key: str) -> int:
        async with db.execute(
            "SELECT COUNT(*) FROM jobs WHERE user_key = ? AND state = 'queued'", (user_key,)
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    async def _channel_budget(
        db: aiosqlite.Connection, origin: Origin, period: QuotaPeriod
    ) -> ChannelBudget | None:
        """The channel's daily budget (its own, else the workspace's for every channel) and
        what today has used of it; None when no rule sets one."""
        async with db.execute(
            """SELECT daily_s FROM channel_rules
               WHERE workspace_key = ? AND channel_id IN (?, ?) AND daily_s IS NOT NULL
               ORDER BY channel_id = ? LIMIT 1""",
            (origin.workspace_key, origin.channel_id, EVERY_CHANNEL, EVERY_CHANNEL),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        used = await SqliteStore._channel_used(db, origin.channel_key, period.day)
        return ChannelBudget(origin.channel_key, float(row[0]), used)

    @staticmethod
    async def _channel_used(db: aiosqlite.Connection, channel_key: str, day: str) -> float:
        async with db.execute(
            """SELECT COALESCE(SUM(seconds), 0) FROM quota_ledger
               WHERE channel_key = ? AND day = ? AND status IN ('reserved', 'settled')""",
            (channel_key, day),
        ) as cur:
            row = await cur.fetchone()
        return float(row[0]) if row else 0.0

    async def get_job(self, job_id: str) -> Job | None:
        """The job with this id, or None."""
        async with self._reader.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)) as cur:
            row = await cur.fetchone()
        return _row_to_job(row) if row else None

    async def _get_job_in(self, db: aiosqlite.Connection, job_id: str) -> Job | None:
        async with db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)) as cur:
            row = await cur.fetchone()
        return _row_to_job(row) if row else None

    async def load_media(self, job_id: str) -> dict[tuple[MediaRole, int], bytes]:
        """The job's stored input files, by role and position."""
        async with self._reader.execute(
            "SELECT role, position, data FROM job_media WHERE job_id = ?", (job_id,)
        ) as cur:
            rows = await cur.fetchall()
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
        sets, params = _assignments(changes)
        if (moment := _MOMENTS.get(to_state)) is not None:
            sets.append(f"{moment} = COALESCE({moment}, ?)")
            params.append(now)
        states = [s.value for s in from_states]
        async with self._transaction() as db:
            cur = await db.execute(
                f"""UPDATE jobs SET state = ?, updated_at = ?, version = version + 1
                        {"".join(", " + s for s in sets)}
                    WHERE id = ? AND state IN ({_placeholders(states)})""",  # noqa: S608 - column names come from _COLUMNS
                (to_state.value, now, *params, job_id, *states),
            )
            if cur.rowcount != 1:
                return None
            if ledger is not None:
                await db.execute(
                    """UPDATE quota_ledger SET status = ?, updated_at = ?
                       WHERE job_id = ? AND status = 'reserved'""",
                    (ledger.value, now, job_id),
                )
            if to_state.is_terminal:
                # A slot may have freed: the requester's waiting jobs look again at once.
                await db.execute(
                    """UPDATE jobs SET due_at = ?, version = version + 1
                       WHERE state = 'queued' AND due_at > ?
                         AND user_key = (SELECT user_key FROM jobs WHERE id = ?)""",
                    (now, now, job_id),
                )
            return await self._get_job_in(db, job_id)

    async def start_queued(
        self, job_id: str, defaults: QuotaLimits, *, now: float, deadline_at: float
    ) -> Job | None:
        """Move a waiting job to `pending` (due now, its deadline `deadline_at`) when it is
        the requester's oldest waiting one and they have a slot free, in one transaction;
        None when it waits on (or is no longer waiting)."""
        async with self._transaction() as db:
            job = await self._get_job_in(db, job_id)
            if job is None or job.state is not JobState.QUEUED:
                return None
            async with db.execute(
                """SELECT id, group_id FROM jobs WHERE user_key = ? AND state = 'queued'
                   ORDER BY created_at, id LIMIT 1""",
                (job.origin.user_key,),
            ) as cur:
                first = await cur.fetchone()
            if first is None or not _first_in_line(job, first[0], first[1]):
                return None
            key, workspace = job.origin.user_key, job.origin.workspace_key
            limits = await self._limits(db, key, workspace, defaults)
            usage = await self._usage(db, key, workspace, quota.period_at(now))
            if usage.in_flight >= limits.user_concurrent:
                return None
            # The request starts whole: every take of it that waits (one job for most).
            await db.execute(
                """UPDATE jobs SET state = 'pending', due_at = ?, deadline_at = ?,
                       updated_at = ?, version = version + 1
                   WHERE state = 'queued' AND (id = ? OR group_id = ?)""",
                (now, deadline_at, now, job_id, job.group_id),
            )
            # Those behind it moved up: their cards show it at once.
            await db.execute(
                """UPDATE jobs SET due_at = ?, version = version + 1
                   WHERE user_key = ? AND state = 'queued' AND due_at > ?""",
                (now, key, now),
            )
            return await self._get_job_in(db, job_id)

    async def queue_ahead(self, job_id: str) -> int:
        """How many of the requester's waiting jobs go before this one (0: it is next)."""
        async with self._reader.execute(
            """SELECT COUNT(*) FROM jobs AS o, jobs AS j
               WHERE j.id = ? AND o.user_key = j.user_key AND o.state = 'queued'
                 AND (o.created_at < j.created_at
                      OR (o.created_at = j.created_at AND o.id < j.id))""",
            (job_id,),
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def update(
        self, job_id: str, *, version: int, now: float, **changes: object
    ) -> Job | None:
        """Change fields if the job is still at `version` (optimistic lock)."""
        sets, params = _assignments(changes)
        async with self._transaction() as db:
            cur = await db.execute(
                f"""UPDATE jobs SET updated_at = ?, version = version + 1
                        {"".join(", " + s for s in sets)}
                    WHERE id = ? AND version = ?""",  # noqa: S608 - column names come from _COLUMNS
                (now, *params, job_id, version),
            )
            if cur.rowcount != 1:
                return None
            return await self._get_job_in(db, job_id)

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
        """Lease due jobs of these platforms owned by `owner` (None: unowned ones) to
        `holder` until `now + lease_s`, closest to their likely completion first (see
        `Job.likely_done_at`), in that order."""
        plats = list(platforms)
        if not plats or limit <= 0:
            return []
        skip, skipped = _excluding(exclude)
        async with self._transaction() as db:
            async with db.execute(
                f"""SELECT id, leased_by FROM jobs
                    WHERE {ACTIVE_AS_INDEXED}
                      AND due_at <= ? AND platform IN ({_placeholders(plats)}){skip}
                      AND owner IS ?
                    ORDER BY COALESCE(likely_done_at, due_at), due_at LIMIT ?""",  # noqa: S608
                (now, *plats, *skipped, owner, limit),
            ) as cur:
                previous = {row["id"]: row["leased_by"] for row in await cur.fetchall()}
            ids = list(previous)
            if not ids:
                return []
            await db.execute(
                f"""UPDATE jobs SET due_at = ?, leased_by = ?, version = version + 1
                    WHERE id IN ({_placeholders(ids)})""",  # noqa: S608 - placeholders only
                (now + lease_s, holder, *ids),
            )
            async with db.execute(
                f"SELECT * FROM jobs WHERE id IN ({_placeholders(ids)})",  # noqa: S608
                ids,
            ) as cur:
                claimed = {row["id"]: _row_to_job(row) for row in await cur.fetchall()}
        # Closest to completion first, each naming whose lease it took over.
        return [_claimed(claimed[job_id], previous[job_id], holder) for job_id in ids]

    async def renew_leases(
        self, job_ids: Collection[str], *, holder: str, until: float
    ) -> list[str]:
        """Extend to `until` the leases `holder` still holds on these active jobs (its
        heartbeat while it steps them), changing no version; the ids it still holds."""
        ids = list(job_ids)
        if not ids:
            return []
        async with (
            self._transaction() as db,
            db.execute(
                f"""UPDATE jobs SET due_at = MAX(due_at, ?)
                    WHERE id IN ({_placeholders(ids)}) AND leased_by = ?
                      AND state IN ({_placeholders(_ACTIVE)})
                    RETURNING id""",  # noqa: S608 - placeholders only
                (until, *ids, holder, *_ACTIVE),
            ) as cur,
        ):
            return sorted(str(row[0]) for row in await cur.fetchall())

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
        skip, skipped = _excluding(exclude)
        async with self._reader.execute(
            f"""SELECT MIN(due_at) FROM jobs
                WHERE {ACTIVE_AS_INDEXED}
                  AND platform IN ({_placeholders(plats)}){skip} AND owner IS ?""",  # noqa: S608 - placeholders only
            (*plats, *skipped, owner),
        ) as cur:
            row = await cur.fetchone()
        return None if row is None or row[0] is None else float(row[0])

    async def lease_holders(self, *, now: float, platforms: Collection[str]) -> list[str]:
        """The workers holding a lease that has not run out on an active job of these
        platforms."""
        plats = list(platforms)
        if not plats:
            return []
        async with self._reader.execute(
            f"""SELECT DISTINCT leased_by FROM jobs
                WHERE {ACTIVE_AS_INDEXED} AND platform IN ({_placeholders(plats)})
                  AND leased_by IS NOT NULL AND due_at > ?
                ORDER BY leased_by""",  # noqa: S608 - placeholders only
            (*plats, now),
        ) as cur:
            return [str(row[0]) for row in await cur.fetchall()]

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
        dead = list(holders)
        async with self._transaction() as db:
            cur = await db.execute(
                f"""UPDATE jobs SET due_at = ?, version = version + 1
                    WHERE state IN ({_placeholders(_ACTIVE)})
                      AND platform IN ({_placeholders(plats)}) AND owner IS ?
                      AND due_at > ?
                      AND (leased_by IN ({_placeholders(dead) if dead else "NULL"})
                           OR (? AND leased_by IS NULL))""",  # noqa: S608 - placeholders only
                (now, *_ACTIVE, *plats, owner, now, *dead, unheld),
            )
            return cur.rowcount

    async def renew_ownership(self, owner: str, *, until: float) -> int:
        """Vouch for `owner`'s active jobs until `until` (its heartbeat; 0 gives them up)."""
        async with self._transaction() as db:
            cur = await db.execute(
                f"""UPDATE jobs SET owner_until = ?
                    WHERE owner = ? AND state IN ({_placeholders(_ACTIVE)})""",  # noqa: S608 - placeholders only
                (until, owner, *_ACTIVE),
            )
            return cur.rowcount

    async def expired_jobs(self, *, finished_before: float, limit: int) -> list[Job]:
        """Finished jobs last changed before `finished_before` whose files are still kept."""
        # In the words of the partial index jobs_unpurged (0006_retention.sql).
        async with self._reader.execute(
            f"""SELECT * FROM jobs
                WHERE purged_at IS NULL AND state IN ({_TERMINAL_IN_WORDS})
                  AND updated_at < ?
                ORDER BY updated_at LIMIT ?""",  # noqa: S608 - fixed words
            (finished_before, limit),
        ) as cur:
            return [_row_to_job(row) for row in await cur.fetchall()]

    async def mark_purged(self, job_id: str, *, now: float) -> None:
        """Delete the job's stored inputs and record that its files are gone."""
        async with self._transaction() as db:
            await db.execute("DELETE FROM job_media WHERE job_id = ?", (job_id,))
            await db.execute("UPDATE jobs SET purged_at = ? WHERE id = ?", (now, job_id))

    async def count_by_state(self) -> dict[JobState, int]:
        """How many jobs are in each state."""
        async with self._reader.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state") as cur:
            return {JobState(row[0]): int(row[1]) for row in await cur.fetchall()}

    async def recent_jobs(self, limit: int, user_key: str | None = None) -> list[Job]:
        """The latest jobs, newest first; only this user's when given."""
        where, params = ("WHERE user_key = ?", [user_key]) if user_key else ("", [])
        async with self._reader.execute(
            f"SELECT * FROM jobs {where} ORDER BY created_at DESC LIMIT ?",  # noqa: S608
            (*params, limit),
        ) as cur:
            return [_row_to_job(row) for row in await cur.fetchall()]

    async def recent_durations(self, model: str, limit: int) -> list[float]:
        """Seconds from submit to done at the provider of the model's latest successful jobs,
        newest first."""
        async with self._reader.execute(
            """SELECT provider_done_at - submitted_at FROM jobs
               WHERE model = ? AND provider_done_at IS NOT NULL AND submitted_at IS NOT NULL
               ORDER BY provider_done_at DESC LIMIT ?""",
            (model, limit),
        ) as cur:
            return [max(0.0, row[0]) for row in await cur.fetchall()]

    async def user_history(
        self, user_key: str, *, limit: int, before: tuple[float, str] | None = None
    ) -> list[Job]:
        """One page of the user's jobs, newest first, after the keyset `before`."""
        where = "user_key = ?"
        params: list[object] = [user_key]
        if before is not None:
            where += " AND (created_at < ? OR (created_at = ? AND id < ?))"
            params += [before[0], before[0], before[1]]
        async with self._reader.execute(
            f"SELECT * FROM jobs WHERE {where} ORDER BY created_at DESC, id DESC LIMIT ?",  # noqa: S608
            (*params, limit),
        ) as cur:
            return [_row_to_job(row) for row in await cur.fetchall()]

    async def home_workspace(self, platform: str, user_id: str) -> str | None:
        """The workspace of the user's latest job on the platform, None when there is none."""
        async with self._reader.execute(
            "SELECT workspace_key FROM jobs WHERE platform = ? AND user_key LIKE ? ESCAPE '!' "
            "AND workspace_key <> ? ORDER BY created_at DESC, id DESC LIMIT 1",
            (platform, user_pattern(platform, user_id), f"{platform}:{DM_WORKSPACE}"),
        ) as cur:
            row = await cur.fetchone()
        return str(row[0]).partition(":")[2] if row else None

    # --- quota --------------------------------------------------------------------------

    async def quota_usage(
        self, user_key: str, workspace_key: str, period: QuotaPeriod
    ) -> QuotaUsage:
        """What the user and the workspace have used in `period`, and what is in flight."""
        return await self._usage(self._reader, user_key, workspace_key, period)

    @staticmethod
    async def _usage(
        db: aiosqlite.Connection, user_key: str, workspace_key: str, period: QuotaPeriod
    ) -> QuotaUsage:
        async with db.execute(
            """SELECT
                 (SELECT COALESCE(SUM(seconds), 0) FROM quota_ledger
                   WHERE user_key = ? AND day = ? AND status IN ('reserved', 'settled')
                     AND created_at > COALESCE(
                       (SELECT reset_at FROM quota_day_resets WHERE user_key = ? AND day = ?),
                       -1)),
                 (SELECT COUNT(*) FROM quota_ledger AS l
                   WHERE l.user_key = ? AND l.status = 'reserved'
                     AND NOT EXISTS (SELECT 1 FROM jobs AS j
                                     WHERE j.id = l.job_id AND j.state = 'queued')),
                 (SELECT COALESCE(SUM(seconds), 0) FROM quota_ledger
                   WHERE workspace_key = ? AND month = ? AND status IN ('reserved', 'settled')),
                 (SELECT COALESCE(SUM(micro_usd), 0) FROM quota_ledger
                   WHERE user_key = ? AND day = ? AND status IN ('reserved', 'settled')
                     AND created_at > COALESCE(
                       (SELECT reset_at FROM quota_day_resets WHERE user_key = ? AND day = ?),
                       -1)),
                 (SELECT COALESCE(SUM(micro_usd), 0) FROM quota_ledger
                   WHERE workspace_key = ? AND month = ? AND status IN ('reserved', 'settled'))""",
            (
                user_key,
                period.day,
                user_key,
                period.day,
                user_key,
                workspace_key,
                period.month,
                user_key,
                period.day,
                user_key,
                period.day,
                workspace_key,
                period.month,
            ),
        ) as cur:
            row = await cur.fetchone()
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
        return await self._limits(self._reader, user_key, workspace_key, defaults)

    async def limit_overrides(
        self, user_key: str | None, workspace_key: str
    ) -> list[LimitOverride]:
        """Every authority's overrides for the workspace, and for the user when given."""
        return await self._overrides(self._reader, user_key, workspace_key)

    @staticmethod
    async def _limits(
        db: aiosqlite.Connection, user_key: str, workspace_key: str, defaults: QuotaLimits
    ) -> QuotaLimits:
        overrides = await SqliteStore._overrides(db, user_key, workspace_key)
        return quota.effective_limits(defaults, overrides)

    @staticmethod
    async def _overrides(
        db: aiosqlite.Connection, user_key: str | None, workspace_key: str
    ) -> list[LimitOverride]:
        async with db.execute(
            """SELECT * FROM quota_overrides
               WHERE (scope = 'workspace' AND subject = ?) OR (scope = 'user' AND subject = ?)""",
            (workspace_key, user_key),
        ) as cur:
            return [_row_to_override(row) for row in await cur.fetchall()]

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
        async with self._transaction() as db:
            await db.execute(
                """INSERT INTO quota_overrides (scope, subject, set_by, daily_s, concurrent,
                       monthly_s, updated_at, daily_micro_usd, monthly_micro_usd)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (scope, subject, set_by) DO UPDATE SET
                       daily_s = COALESCE(excluded.daily_s, quota_overrides.daily_s),
                       concurrent = COALESCE(excluded.concurrent, quota_overrides.concurrent),
                       monthly_s = COALESCE(excluded.monthly_s, quota_overrides.monthly_s),
                       daily_micro_usd = COALESCE(
                           excluded.daily_micro_usd, quota_overrides.daily_micro_usd),
                       monthly_micro_usd = COALESCE(
                           excluded.monthly_micro_usd, quota_overrides.monthly_micro_usd),
                       updated_at = excluded.updated_at""",
                (
                    scope,
                    subject,
                    set_by.value,
                    daily_s,
                    concurrent,
                    monthly_s,
                    now,
                    daily_micro_usd,
                    monthly_micro_usd,
                ),
            )

    async def clear_override(
        self, scope: str, subject: str, *, set_by: Authority | None = None
    ) -> bool:
        """Remove `set_by`'s limits for the subject (everyone's when None)."""
        by = set_by.value if set_by else None
        async with self._transaction() as db:
            cur = await db.execute(
                """DELETE FROM quota_overrides
                   WHERE scope = ? AND subject = ? AND (? IS NULL OR set_by = ?)""",
                (scope, subject, by, by),
            )
            return cur.rowcount > 0

    async def overrides(self) -> list[LimitOverride]:
        """Every override of every subject, by scope, subject and authority."""
        async with self._reader.execute(
            "SELECT * FROM quota_overrides ORDER BY scope, subject, set_by"
        ) as cur:
            return [_row_to_override(row) for row in await cur.fetchall()]

    # --- channel rules ----------------------------------------------------------------------

    async def channel_rules(self, workspace_key: str) -> list[ChannelRule]:
        """Every rule of the workspace (its every-channel row included), by channel id."""
        async with self._reader.execute(
            "SELECT * FROM channel_rules WHERE workspace_key = ? ORDER BY channel_id",
            (workspace_key,),
        ) as cur:
            return [_row_to_rule(row) for row in await cur.fetchall()]

    async def set_channel_rule(
        self, workspace_key: str, channel_id: str, changes: Mapping[str, object], *, now: float
    ) -> ChannelRule:
        """Change the named columns of the channel's rule (None: back to nothing said), the
        others kept; a rule left saying nothing is removed. Returns the rule after."""
        unknown = set(changes) - set(CHANNEL_COLUMNS)
        if unknown:
            raise ValueError(f"channel rule fields {sorted(unknown)} do not exist")
        async with self._transaction() as db:
            await db.execute(
                """INSERT INTO channel_rules (workspace_key, channel_id, updated_at)
                   VALUES (?, ?, ?)
                   ON CONFLICT (workspace_key, channel_id) DO UPDATE
                   SET updated_at = excluded.updated_at""",
                (workspace_key, channel_id, now),
            )
            if changes:
                sets = ", ".join(f"{column} = ?" for column in changes)
                await db.execute(
                    f"UPDATE channel_rules SET {sets} "  # noqa: S608 - checked columns
                    "WHERE workspace_key = ? AND channel_id = ?",
                    (*changes.values(), workspace_key, channel_id),
                )
            async with db.execute(
                "SELECT * FROM channel_rules WHERE workspace_key = ? AND channel_id = ?",
                (workspace_key, channel_id),
            ) as cur:
                row = await cur.fetchone()
            assert row is not None
            rule = _row_to_rule(row)
            if rule.is_empty:
                await db.execute(
                    "DELETE FROM channel_rules WHERE workspace_key = ? AND channel_id = ?",
                    (workspace_key, channel_id),
                )
            return rule

    async def clear_channel_rule(self, workspace_key: str, channel_id: str) -> bool:
        """Forget everything said about the channel; returns whether anything was."""
        async with self._transaction() as db:
            cur = await db.execute(
                "DELETE FROM channel_rules WHERE workspace_key = ? AND channel_id = ?",
                (workspace_key, channel_id),
            )
            return cur.rowcount > 0

    async def workspace_locale(self, workspace_key: str) -> str | None:
        """The language the workspace fixed for everyone; None: each person's own."""
        async with self._reader.execute(
            "SELECT locale FROM workspace_locales WHERE workspace_key = ?", (workspace_key,)
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else str(row[0])

    async def set_workspace_locale(
        self, workspace_key: str, locale: str | None, *, now: float
    ) -> None:
        """Fix the workspace's language; None forgets it."""
        async with self._transaction() as db:
            if locale is None:
                await db.execute(
                    "DELETE FROM workspace_locales WHERE workspace_key = ?", (workspace_key,)
                )
                return
            await db.execute(
                """INSERT INTO workspace_locales (workspace_key, locale, updated_at)
                   VALUES (?, ?, ?)
                   ON CONFLICT (workspace_key) DO UPDATE
                   SET locale = excluded.locale, updated_at = excluded.updated_at""",
                (workspace_key, locale, now),
            )

    async def channel_used_today(self, channel_key: str, day: str) -> float:
        """Seconds reserved or charged in the channel on `day`."""
        return await self._channel_used(self._reader, channel_key, day)

    async def reset_day(self, user_key: str, day: str, *, now: float) -> None:
        """Start the user's day afresh: what was charged before now no longer counts today."""
        async with self._transaction() as db:
            await db.execute(
                """INSERT INTO quota_day_resets (user_key, day, reset_at) VALUES (?, ?, ?)
                   ON CONFLICT (user_key, day) DO UPDATE SET reset_at = excluded.reset_at""",
                (user_key, day, now),
            )

    async def set_blocked(self, user_key: str, blocked: bool, *, now: float) -> bool:
        """Block or unblock; returns whether anything changed."""
        async with self._transaction() as db:
            if blocked:
                cur = await db.execute(
                    """INSERT INTO blocked_users (user_key, blocked_at) VALUES (?, ?)
                       ON CONFLICT (user_key) DO NOTHING""",
                    (user_key, now),
                )
            else:
                cur = await db.execute("DELETE FROM blocked_users WHERE user_key = ?", (user_key,))
            return cur.rowcount > 0

    async def blocked_users(self) -> list[str]:
        """The user keys of everyone blocked, in order."""
        async with self._reader.execute(
            "SELECT user_key FROM blocked_users ORDER BY user_key"
        ) as cur:
            return [row[0] for row in await cur.fetchall()]

    async def banned_terms(self, workspace_key: str) -> list[str]:
        """The workspace's banned terms, in order."""
        async with self._reader.execute(
            "SELECT term FROM banned_terms WHERE workspace_key = ? ORDER BY term", (workspace_key,)
        ) as cur:
            return [row[0] for row in await cur.fetchall()]

    async def set_banned_term(
        self,
        workspace_key: str,
        term: str,
        banned: bool,
        *,
        now: float,
        max_terms: int | None = None,
    ) -> bool:
        """Add or remove a term; the room for one more is decided in the same write transaction."""
        async with self._transaction() as db:
            if banned and max_terms is not None:
                async with db.execute(
                    """SELECT COUNT(*), MAX(term = ?) FROM banned_terms
                       WHERE workspace_key = ?""",
                    (term, workspace_key),
                ) as cur:
                    row = await cur.fetchone()
                count, present = (int(row[0]), bool(row[1])) if row else (0, False)
                if count >= max_terms and not present:
                    raise moderation.too_many_terms()
            if banned:
                cur = await db.execute(
                    """INSERT INTO banned_terms (workspace_key, term, added_at) VALUES (?, ?, ?)
                       ON CONFLICT (workspace_key, term) DO NOTHING""",
                    (workspace_key, term, now),
                )
            else:
                cur = await db.execute(
                    "DELETE FROM banned_terms WHERE workspace_key = ? AND term = ?",
                    (workspace_key, term),
                )
            return cur.rowcount > 0

    async def usage_report(self, month: str, workspace_key: str | None = None) -> list[UsageRow]:
        """Seconds per user for a month, most first: charged (settled) and still in flight."""
        where, params = ("AND workspace_key = ?", [workspace_key]) if workspace_key else ("", [])
        async with self._reader.execute(
            f"""SELECT user_key, workspace_key, COUNT(*) AS jobs,
                   SUM(CASE WHEN status = 'settled' THEN seconds ELSE 0 END) AS settled_s,
                   SUM(CASE WHEN status = 'reserved' THEN seconds ELSE 0 END) AS reserved_s,
                   SUM(CASE WHEN status = 'refunded' THEN 1 ELSE 0 END) AS refunded,
                   SUM(CASE WHEN status = 'settled' THEN micro_usd ELSE 0 END) AS settled_usd,
                   SUM(CASE WHEN status = 'reserved' THEN micro_usd ELSE 0 END) AS reserved_usd
                FROM quota_ledger WHERE month = ? {where}
                GROUP BY user_key, workspace_key
                ORDER BY settled_s + reserved_s DESC, user_key""",  # noqa: S608 - fixed text
            (month, *params),
        ) as cur:
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
                for row in await cur.fetchall()
            ]

    async def daily_spend(self, month: str, workspace_key: str | None = None) -> list[DailySpend]:
        """Money charged (settled) per person and UTC day in `month`, by day then person."""
        where, params = ("AND workspace_key = ?", [workspace_key]) if workspace_key else ("", [])
        async with self._reader.execute(
            f"""SELECT day, user_key, SUM(micro_usd) AS spent FROM quota_ledger
                WHERE month = ? AND status = 'settled' {where}
                GROUP BY day, user_key ORDER BY day, user_key""",  # noqa: S608 - fixed text
            (month, *params),
        ) as cur:
            return [
                DailySpend(row["day"], row["user_key"], int(row["spent"]))
                for row in await cur.fetchall()
            ]

    async def ledger(self, job_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Ledger rows (for reports and tests)."""
        ids = list(job_ids or [])
        where = f"WHERE job_id IN ({_placeholders(ids)})" if ids else ""
        async with self._reader.execute(
            f"SELECT * FROM quota_ledger {where} ORDER BY created_at",  # noqa: S608
            ids,
        ) as cur:
            return [dict(row) for row in await cur.fetchall()]

    # --- result links -------------------------------------------------------------------

    async def revoke_result(self, job_id: str, *, by: str, now: float) -> bool:
        """Record that the job's result link must stop working; False if already revoked."""
        async with self._transaction() as db:
            cur = await db.execute(
                """INSERT INTO result_revocations (job_id, revoked_by, revoked_at)
                   VALUES (?, ?, ?) ON CONFLICT (job_id) DO NOTHING""",
                (job_id, by, now),
            )
            return cur.rowcount == 1

    async def result_revoked(self, job_id: str) -> bool:
        """Whether the job's result link was revoked."""
        async with self._reader.execute(
            "SELECT 1 FROM result_revocations WHERE job_id = ?", (job_id,)
        ) as cur:
            return await cur.fetchone() is not None

    # --- secrets ------------------------------------------------------------------------

    async def get_or_create_secret(self, name: str) -> str:
        """The named secret, made at random the first time and read back after."""
        async with self._transaction() as db:
            async with db.execute("SELECT value FROM secrets WHERE name = ?", (name,)) as cur:
                row = await cur.fetchone()
            if row is not None:
                return str(row["value"])
            value = secrets.token_urlsafe(32)
            await db.execute("INSERT INTO secrets (name, value) VALUES (?, ?)", (name, value))
            return value

    # --- blobs --------------------------------------------------------------------------

    async def put_blob(self, name: str, chunks: AsyncIterable[bytes], *, now: float) -> int:
        """Store the bytes `chunks` yields as the blob `name` (replacing one of that name), in
        rows of at most BLOB_CHUNK_BYTES, each its own short transaction: never more than one
        row in memory, and the writer is never held for a whole file. Readers see the old
        blob (or none) until the last row is in. Returns the size."""
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
                async with db.execute("SELECT upload FROM blobs WHERE name = ?", (name,)) as cur:
                    old = await cur.fetchone()
                await db.execute(
                    """INSERT INTO blobs (name, upload, size, created_at) VALUES (?, ?, ?, ?)
                       ON CONFLICT (name) DO UPDATE SET upload = excluded.upload,
                           size = excluded.size, created_at = excluded.created_at""",
                    (name, upload, size, now),
                )
                if old is not None:
                    await db.execute("DELETE FROM blob_chunks WHERE upload = ?", (old[0],))
        except BaseException:
            await asyncio.shield(self._drop_upload(upload))
            raise
        return size

    async def _put_chunk(self, upload: str, name: str, seq: int, data: bytes) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO blob_chunks (upload, name, seq, data) VALUES (?, ?, ?, ?)",
                (upload, name, seq, data),
            )

    async def _drop_upload(self, upload: str) -> None:
        with contextlib.suppress(sqlite3.Error, ValueError):
            async with self._transaction() as db:
                await db.execute("DELETE FROM blob_chunks WHERE upload = ?", (upload,))

    async def blob_size(self, name: str) -> int | None:
        """The size of the blob `name`, None when there is none."""
        async with self._reader.execute("SELECT size FROM blobs WHERE name = ?", (name,)) as cur:
            row = await cur.fetchone()
        return None if row is None else int(row[0])

    async def read_blob(self, name: str) -> AsyncIterator[bytes]:
        """The blob's bytes, one row at a time; `FileNotFoundError` when there is none, or
        when it is deleted or replaced while being read."""
        async with self._reader.execute(
            "SELECT upload, size FROM blobs WHERE name = ?", (name,)
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            raise FileNotFoundError(f"no stored file {name}")
        upload, size = str(row[0]), int(row[1])
        seq = 0
        read = 0
        while read < size:
            async with self._reader.execute(
                "SELECT data FROM blob_chunks WHERE upload = ? AND seq = ?", (upload, seq)
            ) as cur:
                chunk = await cur.fetchone()
            if chunk is None or not chunk[0]:
                raise FileNotFoundError(f"stored file {name} went away while it was read")
            read += len(chunk[0])
            seq += 1
            yield bytes(chunk[0])

    async def delete_blobs(self, names: Collection[str]) -> int:
        """Delete these blobs, with the rows of any upload of them a crash cut short; how
        many blobs there were."""
        wanted = list(names)
        if not wanted:
            return 0
        async with self._transaction() as db:
            cur = await db.execute(
                f"DELETE FROM blobs WHERE name IN ({_placeholders(wanted)})",  # noqa: S608
                wanted,
            )
            await db.execute(
                f"DELETE FROM blob_chunks WHERE name IN ({_placeholders(wanted)})",  # noqa: S608
                wanted,
            )
            return cur.rowcount
