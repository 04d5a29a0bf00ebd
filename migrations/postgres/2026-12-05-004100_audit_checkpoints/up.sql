-- Checkpoints of the audit chain: the head (seq, hash) at a time, signed by the provider's
-- document-sealing key, so a consistent rewrite of the whole chain by someone with database
-- access (but not the key) contradicts a checkpoint. certificate_sha256 names the sealing
-- certificate that signed it. Not audited itself: a checkpoint is a statement about the chain,
-- and an event per checkpoint would keep the chain from ever being quiet.
CREATE TABLE audit_checkpoints (
    seq BIGINT PRIMARY KEY NOT NULL,
    hash TEXT NOT NULL,
    at TIMESTAMP NOT NULL,
    certificate_sha256 TEXT NOT NULL,
    signature BYTEA NOT NULL
);
