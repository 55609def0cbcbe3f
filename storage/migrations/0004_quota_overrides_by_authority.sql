-- Quota overrides remember whose word they are: the operator's (VEO_ADMINS, the CLI) or a
-- workspace admin's (Discord Manage Server). The two are kept apart, one row each per
-- subject, and the tighter one applies (bot/quota.py), so a workspace admin can lower limits
-- and share them out but never lift anyone above the operator's caps.
--
-- Rows from before this version do not say who set them, and a server admin could then set
-- any value: they become workspace-admin rows, held under the operator's caps from now on.
-- An operator who had raised a limit sets it again with `veo-bot quota set`.

CREATE TABLE quota_overrides_by_authority (
    scope       TEXT NOT NULL CHECK (scope IN ('user', 'workspace')),
    subject     TEXT NOT NULL,
    -- A writer that does not say gets the weaker word.
    set_by      TEXT NOT NULL DEFAULT 'workspace_admin'
                CHECK (set_by IN ('operator', 'workspace_admin')),
    daily_s     REAL,
    concurrent  INTEGER,
    monthly_s   REAL,
    updated_at  REAL NOT NULL,
    PRIMARY KEY (scope, subject, set_by)
);

INSERT INTO quota_overrides_by_authority
    (scope, subject, set_by, daily_s, concurrent, monthly_s, updated_at)
SELECT scope, subject, 'workspace_admin', daily_s, concurrent, monthly_s, updated_at
FROM quota_overrides;

DROP TABLE quota_overrides;
ALTER TABLE quota_overrides_by_authority RENAME TO quota_overrides;
