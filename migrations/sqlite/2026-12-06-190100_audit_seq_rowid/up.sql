-- `seq BIGINT PRIMARY KEY` is not SQLite's rowid (only `INTEGER PRIMARY KEY` is): every event
-- was stored under a hidden rowid plus a separate unique index on `seq`, one more index write
-- per event on the single writer and two lookups per read by `seq`. The table is rebuilt with
-- `seq` as its rowid; the events, their order and their hashes are copied unchanged
-- (issue #18). PostgreSQL's table is unchanged.
CREATE TABLE audit_events_by_seq (
    seq INTEGER PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_events_by_seq (seq, at, actor, action, object_type, object_id, details, prev_hash, hash)
    SELECT seq, at, actor, action, object_type, object_id, details, prev_hash, hash
    FROM audit_events ORDER BY seq;
DROP TABLE audit_events;
ALTER TABLE audit_events_by_seq RENAME TO audit_events;
CREATE INDEX audit_events_object ON audit_events (object_type, object_id);
CREATE INDEX audit_events_action_at ON audit_events (action, at);
CREATE INDEX audit_events_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_at ON audit_events (at);
