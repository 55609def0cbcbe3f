-- When a finished job's files (input images, local renders, a kept result) were removed after
-- the retention period; NULL while they are kept. The partial index serves the periodic sweep,
-- which looks only at finished jobs not purged yet.
ALTER TABLE jobs ADD COLUMN purged_at REAL;
CREATE INDEX jobs_unpurged ON jobs (updated_at)
    WHERE purged_at IS NULL AND state IN ('delivered', 'failed', 'timed_out', 'cancelled');
