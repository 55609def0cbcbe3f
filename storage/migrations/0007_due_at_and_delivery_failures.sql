-- Names that say what they are.
--
-- `next_poll_at` was never only the next poll: it is also when a claimed job's lease ends
-- and when a failed delivery is tried again. It becomes `due_at`, when the scheduler next
-- looks at the job (the partial index jobs_due follows the rename).
--
-- `poll_failures` counted failed deliveries as well as failed provider readings. Deliveries
-- get their own `delivery_failures`; a job being delivered when this runs takes its count
-- there, so its retries go on where they stopped.
ALTER TABLE jobs RENAME COLUMN next_poll_at TO due_at;
ALTER TABLE jobs ADD COLUMN delivery_failures INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET delivery_failures = poll_failures, poll_failures = 0
    WHERE state IN ('succeeded', 'delivering');
