-- The whole schema on PostgreSQL, equal to SQLite's after its migrations 0001..0008
-- (storage/migrations/*.sql): the same tables, columns and meaning, in PostgreSQL's own types.
-- Times are seconds since the epoch (double precision), as the core passes them. Applied by
-- storage/postgres.py under an advisory lock and recorded in schema_version.

CREATE TABLE jobs (
    id                  text PRIMARY KEY,
    platform            text NOT NULL,
    user_key            text NOT NULL,
    workspace_key       text NOT NULL,
    origin              jsonb NOT NULL,
    -- json, not jsonb: kept as written, so a prompt holding U+0000 (which jsonb and text refuse)
    -- is stored like any other; nothing queries inside it.
    request             json NOT NULL,
    provider            text NOT NULL,
    model               text NOT NULL,
    state               text NOT NULL,
    progress            integer NOT NULL DEFAULT 0,
    provider_job_id     text,
    submit_attempts     integer NOT NULL DEFAULT 0,
    poll_failures       integer NOT NULL DEFAULT 0,
    delivery_failures   integer NOT NULL DEFAULT 0,
    -- When the scheduler next looks at the job; also the end of a claim's lease.
    due_at              double precision,
    deadline_at         double precision NOT NULL,
    cost_s              double precision NOT NULL,
    result_url          text,
    result_bytes        bigint,
    -- The size of the bot's own complete copy of the finished video; NULL: none recorded.
    downloaded_bytes    bigint,
    delivery_refs       jsonb,
    error_code          text,
    error_message       text,
    created_at          double precision NOT NULL,
    updated_at          double precision NOT NULL,
    version             bigint NOT NULL DEFAULT 0,
    -- A platform's own id for a request (e.g. a Slack event id): one job however often it comes.
    idempotency_key     text,
    -- When a finished job's files were removed after the retention period; NULL while kept.
    purged_at           double precision
);

-- Due jobs: the scheduler's queries repeat this condition word for word (ACTIVE_AS_INDEXED),
-- so they read only active jobs, however many finished ones the table holds.
CREATE INDEX jobs_due ON jobs (due_at)
    WHERE state NOT IN ('delivered', 'failed', 'timed_out', 'cancelled');
CREATE INDEX jobs_user_created ON jobs (user_key, created_at);
CREATE INDEX jobs_created ON jobs (created_at);
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_unpurged ON jobs (updated_at)
    WHERE purged_at IS NULL AND state IN ('delivered', 'failed', 'timed_out', 'cancelled');

CREATE TABLE job_media (
    job_id    text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    role      text NOT NULL,
    position  integer NOT NULL,
    data      bytea NOT NULL,
    PRIMARY KEY (job_id, role, position)
);

CREATE TABLE quota_ledger (
    job_id         text PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    user_key       text NOT NULL,
    workspace_key  text NOT NULL,
    day            text NOT NULL,
    month          text NOT NULL,
    seconds        double precision NOT NULL,
    status         text NOT NULL CHECK (status IN ('reserved', 'settled', 'refunded')),
    created_at     double precision NOT NULL,
    updated_at     double precision NOT NULL
);

CREATE INDEX quota_ledger_user_day ON quota_ledger (user_key, day);
CREATE INDEX quota_ledger_workspace_month ON quota_ledger (workspace_key, month);
CREATE INDEX quota_ledger_user_reserved ON quota_ledger (user_key) WHERE status = 'reserved';

CREATE TABLE secrets (
    name   text PRIMARY KEY,
    value  text NOT NULL
);

-- Limits per user and per workspace, one row per authority: the operator's (VEO_ADMINS, the
-- CLI) and a workspace admin's, the tighter applying (bot/quota.py).
CREATE TABLE quota_overrides (
    scope       text NOT NULL CHECK (scope IN ('user', 'workspace')),
    subject     text NOT NULL,
    set_by      text NOT NULL DEFAULT 'workspace_admin'
                CHECK (set_by IN ('operator', 'workspace_admin')),
    daily_s     double precision,
    concurrent  integer,
    monthly_s   double precision,
    updated_at  double precision NOT NULL,
    PRIMARY KEY (scope, subject, set_by)
);

CREATE TABLE blocked_users (
    user_key    text PRIMARY KEY,
    blocked_at  double precision NOT NULL
);

-- Usage of `day` counts only reservations made after `reset_at`.
CREATE TABLE quota_day_resets (
    user_key  text NOT NULL,
    day       text NOT NULL,
    reset_at  double precision NOT NULL,
    PRIMARY KEY (user_key, day)
);

CREATE TABLE banned_terms (
    workspace_key  text NOT NULL,
    term           text NOT NULL,
    added_at       double precision NOT NULL,
    PRIMARY KEY (workspace_key, term)
);

-- Result links revoked by Delete: refused for good, across restarts.
CREATE TABLE result_revocations (
    job_id      text PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    revoked_by  text NOT NULL,
    revoked_at  double precision NOT NULL
);
