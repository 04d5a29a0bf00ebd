-- PostgreSQL's queue of committed, not yet chained audit events. SQLite chains each event in
-- its write transaction (writers are serialised anyway), so this table stays empty here; it
-- exists so that both dialects have the tables `schema.rs` declares.
CREATE TABLE audit_pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    details TEXT NOT NULL
);
