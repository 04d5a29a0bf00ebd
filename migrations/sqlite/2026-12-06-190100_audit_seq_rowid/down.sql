CREATE TABLE audit_events_by_key (
    seq BIGINT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_events_by_key (seq, at, actor, action, object_type, object_id, details, prev_hash, hash)
    SELECT seq, at, actor, action, object_type, object_id, details, prev_hash, hash
    FROM audit_events ORDER BY seq;
DROP TABLE audit_events;
ALTER TABLE audit_events_by_key RENAME TO audit_events;
CREATE INDEX audit_events_object ON audit_events (object_type, object_id);
CREATE INDEX audit_events_action_at ON audit_events (action, at);
CREATE INDEX audit_events_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_at ON audit_events (at);
