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

CREATE FUNCTION certificates_status_changed() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status
        OR NEW.revoked_at IS DISTINCT FROM OLD.revoked_at
        OR NEW.revocation_reason IS DISTINCT FROM OLD.revocation_reason THEN
        IF TG_OP = 'UPDATE' THEN
            NEW.status_version := OLD.status_version + 1;
        END IF;
        UPDATE status_generation SET generation = generation + 1 WHERE id = 1;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER certificates_status_changed BEFORE INSERT OR UPDATE ON certificates
    FOR EACH ROW EXECUTE FUNCTION certificates_status_changed();

-- The newest CRL per CA and shard, shared by all processes. `number` is the cRLNumber sequence:
-- incremented in the transaction that builds the CRL, so it strictly increases across processes.
CREATE TABLE crls (
    ca_name TEXT NOT NULL,
    shard INTEGER NOT NULL,
    number BIGINT NOT NULL,
    generation BIGINT NOT NULL,
    this_update TIMESTAMP NOT NULL,
    next_update TIMESTAMP NOT NULL,
    der BYTEA NOT NULL,
    PRIMARY KEY (ca_name, shard)
);
