-- Result links revoked by Delete: /results refuses them for good, across restarts, even if
-- the video were still on disk.
CREATE TABLE result_revocations (
    job_id      TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    revoked_by  TEXT NOT NULL,
    revoked_at  REAL NOT NULL
);
