-- A platform's own id for a request (e.g. a Slack event id), so a request delivered twice,
-- even across a restart, makes one job.
ALTER TABLE jobs ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
