-- Several processes on one database (issue 16, second part).
--
-- Who holds a job's current lease (`leased_by`, a worker id `host:pid:token`, set by each
-- claim), so that a process that starts takes over only the leases of processes known to be
-- dead instead of every unfinished job. Who owns a job (`owner`): a `veo-bot try` job is
-- stepped only by the process that started it, whose heartbeat keeps `owner_until` ahead;
-- `veo-bot resume` adopts one whose owner is gone. NULL: any server may step it.
ALTER TABLE jobs ADD COLUMN leased_by text;
ALTER TABLE jobs ADD COLUMN owner text;
ALTER TABLE jobs ADD COLUMN owner_until double precision;

-- Files every process can read (result videos, the local renderer's work): a blob is a name
-- pointing at one complete upload, whose bytes are rows of at most 1 MiB, written and read
-- one row at a time. An upload becomes the blob only once all its rows are in, so a reader
-- never sees a partial file; rows of an upload a crash cut short carry the name too, and go
-- with it.
CREATE TABLE blobs (
    name        text PRIMARY KEY,
    upload      text NOT NULL,
    size        bigint NOT NULL,
    created_at  double precision NOT NULL
);

CREATE TABLE blob_chunks (
    upload  text NOT NULL,
    name    text NOT NULL,
    seq     integer NOT NULL,
    data    bytea NOT NULL,
    PRIMARY KEY (upload, seq)
);

CREATE INDEX blob_chunks_name ON blob_chunks (name);
