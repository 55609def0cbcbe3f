-- Variants (issue 18, part 6): the takes of one request for several videos made as jobs of
-- their own share a group id (the first take's job id) and are numbered from 0 (`take`).
-- videos was posted, recorded once, so that it is posted once across restarts.
ALTER TABLE jobs ADD COLUMN group_id TEXT;
ALTER TABLE jobs ADD COLUMN take INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_group ON jobs (group_id) WHERE group_id IS NOT NULL;
