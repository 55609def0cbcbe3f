-- Discord shards across replicas (issue 16, fifth part).
--
-- Who holds each shard's gateway connection, until when (a lease renewed on a heartbeat);
-- which replicas running Discord are live (their own heartbeat), so that each holds its fair
-- share; and what every replica must agree on once: the shard count, and the hash of the
-- slash commands last registered.
CREATE TABLE discord_shards (
    shard_id    INTEGER PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  REAL NOT NULL
);

CREATE TABLE discord_replicas (
    holder      TEXT PRIMARY KEY,
    expires_at  REAL NOT NULL
);

CREATE TABLE discord_settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
