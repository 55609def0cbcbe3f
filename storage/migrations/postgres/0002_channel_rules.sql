-- Channel rules (bot/channels.py): one row per channel an admin named, and one per workspace
-- with channel_id '*' that speaks for every channel. NULL: nothing said, the workspace's row
-- (or the bot's default) applies.
CREATE TABLE channel_rules (
    workspace_key      text NOT NULL,
    channel_id         text NOT NULL,
    open               boolean,
    provider           text,
    model              text,
    aspect_ratio       text,
    private            boolean,
    daily_s            double precision CHECK (daily_s >= 0),
    person_generation  text,
    updated_at         double precision NOT NULL,
    PRIMARY KEY (workspace_key, channel_id)
);

-- The channel each reservation was made in (`platform:workspace:channel`), for the channels'
-- daily budgets; earlier rows get theirs from the job they belong to.
ALTER TABLE quota_ledger ADD COLUMN channel_key text;
UPDATE quota_ledger SET channel_key =
    jobs.platform || ':' || (jobs.origin ->> 'workspace_id') || ':' || (jobs.origin ->> 'channel_id')
FROM jobs WHERE jobs.id = quota_ledger.job_id;
CREATE INDEX quota_ledger_channel_day ON quota_ledger (channel_key, day);
