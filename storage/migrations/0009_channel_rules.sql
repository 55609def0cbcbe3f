-- Channel rules (bot/channels.py): one row per channel an admin named, and one per workspace
-- with channel_id '*' that speaks for every channel. NULL: nothing said, the workspace's row
-- (or the bot's default) applies. open: 1 /veo works there, 0 closed.
CREATE TABLE channel_rules (
    workspace_key      TEXT NOT NULL,
    channel_id         TEXT NOT NULL,
    open               INTEGER CHECK (open IN (0, 1)),
    provider           TEXT,
    model              TEXT,
    aspect_ratio       TEXT,
    private            INTEGER CHECK (private IN (0, 1)),
    daily_s            REAL CHECK (daily_s >= 0),
    person_generation  TEXT,
    updated_at         REAL NOT NULL,
    PRIMARY KEY (workspace_key, channel_id)
);

-- The channel each reservation was made in (`platform:workspace:channel`), for the channels'
-- daily budgets; earlier rows get theirs from the job they belong to.
ALTER TABLE quota_ledger ADD COLUMN channel_key TEXT;
UPDATE quota_ledger SET channel_key = (
    SELECT jobs.platform || ':' || json_extract(jobs.origin_json, '$.workspace_id') || ':'
           || json_extract(jobs.origin_json, '$.channel_id')
    FROM jobs WHERE jobs.id = quota_ledger.job_id);
CREATE INDEX quota_ledger_channel_day ON quota_ledger (channel_key, day);
