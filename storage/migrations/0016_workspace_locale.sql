-- The language a workspace fixed for everyone in it (issue 19, part 3): `veo-bot language`,
-- `/veo-admin language`, `/veo admin language`. No row: each person reads the bot in their
-- own language. A job keeps its requester's language in its origin (origin_json).
CREATE TABLE workspace_locales (
    workspace_key TEXT PRIMARY KEY,
    locale        TEXT NOT NULL,
    updated_at    REAL NOT NULL
);
