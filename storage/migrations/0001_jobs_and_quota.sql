-- Jobs, their input media, the quota ledger and stored secrets.
-- Portable SQL only (partial indexes exist in PostgreSQL too): the Store contract must admit
-- a PostgreSQL implementation later.

CREATE TABLE jobs (
    id                  TEXT PRIMARY KEY,
    platform            TEXT NOT NULL,
    user_key            TEXT NOT NULL,
    workspace_key       TEXT NOT NULL,
    origin_json         TEXT NOT NULL,
    request_json        TEXT NOT NULL,
    provider            TEXT NOT NULL,
    model               TEXT NOT NULL,
    state               TEXT NOT NULL,
    progress            INTEGER NOT NULL DEFAULT 0,
    provider_job_id     TEXT,
    submit_attempts     INTEGER NOT NULL DEFAULT 0,
    poll_failures       INTEGER NOT NULL DEFAULT 0,
    next_poll_at        REAL,
    deadline_at         REAL NOT NULL,
    cost_s              REAL NOT NULL,
    result_url          TEXT,
    result_bytes        INTEGER,
    delivery_refs_json  TEXT,
    error_code          TEXT,
    error_message       TEXT,
    created_at          REAL NOT NULL,
    updated_at          REAL NOT NULL,
    version             INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX jobs_due ON jobs (next_poll_at)
    WHERE state NOT IN ('delivered', 'failed', 'timed_out', 'cancelled');
CREATE INDEX jobs_user_created ON jobs (user_key, created_at);
CREATE INDEX jobs_created ON jobs (created_at);

CREATE TABLE job_media (
    job_id    TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    role      TEXT NOT NULL,
    position  INTEGER NOT NULL,
    data      BLOB NOT NULL,
    PRIMARY KEY (job_id, role, position)
);

CREATE TABLE quota_ledger (
    job_id         TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    user_key       TEXT NOT NULL,
    workspace_key  TEXT NOT NULL,
    day            TEXT NOT NULL,
    month          TEXT NOT NULL,
    seconds        REAL NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('reserved', 'settled', 'refunded')),
    created_at     REAL NOT NULL,
    updated_at     REAL NOT NULL
);

CREATE INDEX quota_ledger_user_day ON quota_ledger (user_key, day);
CREATE INDEX quota_ledger_workspace_month ON quota_ledger (workspace_key, month);
CREATE INDEX quota_ledger_user_reserved ON quota_ledger (user_key) WHERE status = 'reserved';

CREATE TABLE secrets (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
