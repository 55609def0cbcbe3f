-- What admins steer: quota overrides per user and per workspace, blocked users, a user's day
-- started afresh, and banned terms per workspace.

CREATE TABLE quota_overrides (
    scope       TEXT NOT NULL CHECK (scope IN ('user', 'workspace')),
    subject     TEXT NOT NULL,
    daily_s     REAL,
    concurrent  INTEGER,
    monthly_s   REAL,
    updated_at  REAL NOT NULL,
    PRIMARY KEY (scope, subject)
);

CREATE TABLE blocked_users (
    user_key    TEXT PRIMARY KEY,
    blocked_at  REAL NOT NULL
);

-- Usage of `day` counts only reservations made after `reset_at`.
CREATE TABLE quota_day_resets (
    user_key  TEXT NOT NULL,
    day       TEXT NOT NULL,
    reset_at  REAL NOT NULL,
    PRIMARY KEY (user_key, day)
);

CREATE TABLE banned_terms (
    workspace_key  TEXT NOT NULL,
    term           TEXT NOT NULL,
    added_at       REAL NOT NULL,
    PRIMARY KEY (workspace_key, term)
);
