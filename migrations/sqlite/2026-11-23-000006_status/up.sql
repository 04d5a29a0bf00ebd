-- Revocation status services (OCSP, CRL). Cached OCSP responses and CRLs are only served while
-- the status they were built from is current. Triggers, not application code, keep the versions,
-- so every writer (issuance, acceptance, revocation, expiry, SQL by hand) invalidates the caches,
-- in every process.
ALTER TABLE certificates ADD COLUMN status_version BIGINT NOT NULL DEFAULT 0;

-- One row: bumped by any insert or status change of a certificate (the CRL's staleness test).
CREATE TABLE status_generation (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO status_generation (id, generation) VALUES (1, 0);

CREATE TRIGGER certificates_status_insert AFTER INSERT ON certificates
BEGIN
    UPDATE status_generation SET generation = generation + 1 WHERE id = 1;
END;
CREATE TRIGGER certificates_status_update
    AFTER UPDATE OF status, revoked_at, revocation_reason ON certificates
    WHEN OLD.status IS NOT NEW.status OR OLD.revoked_at IS NOT NEW.revoked_at
        OR OLD.revocation_reason IS NOT NEW.revocation_reason
BEGIN
    UPDATE certificates SET status_version = OLD.status_version + 1 WHERE serial = NEW.serial;
    UPDATE status_generation SET generation = generation + 1 WHERE id = 1;
END;

-- The newest CRL per CA and shard, shared by all processes. `number` is the cRLNumber sequence:
-- incremented in the transaction that builds the CRL, so it strictly increases across processes.
CREATE TABLE crls (
    ca_name TEXT NOT NULL,
    shard INTEGER NOT NULL,
    number BIGINT NOT NULL,
    generation BIGINT NOT NULL,
    this_update TIMESTAMP NOT NULL,
    next_update TIMESTAMP NOT NULL,
    der BLOB NOT NULL,
    PRIMARY KEY (ca_name, shard)
);
