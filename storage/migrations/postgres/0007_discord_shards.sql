-- Discord shards across replicas (issue 16, fifth part).
--
-- Who holds each shard's gateway connection, until when (a lease renewed on a heartbeat);
-- which replicas running Discord are live (their own heartbeat), so that each holds its fair
-- share; and what every replica must agree on once: the shard count, and the hash of the
-- slash commands last registered.
CREATE TABLE discord_shards (
    shard_id    integer PRIMARY KEY,
    holder      text NOT NULL,
    expires_at  double precision NOT NULL
);

CREATE TABLE discord_replicas (
    holder      text PRIMARY KEY,
    expires_at  double precision NOT NULL
);

CREATE TABLE discord_settings (
    name   text PRIMARY KEY,
    value  text NOT NULL
);
