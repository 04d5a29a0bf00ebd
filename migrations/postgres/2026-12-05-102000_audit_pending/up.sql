-- Audit events appended by committed PostgreSQL write transactions and not yet chained. A
-- write inserts its events here (no shared row is touched, so writers do not queue on the
-- chain); the sequencer, one at a time under the audit head's row lock, moves them into
-- audit_events in `id` order, assigning seq, prev_hash and hash. Committed here means
-- recorded: an event waits here, never lost, until the next sequencer run.
CREATE TABLE audit_pending (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    details TEXT NOT NULL
);
