-- Status serving at scale. OCSP freshness at one small read per batch of requests instead of
-- one per request:
-- `status_version` becomes the `status_generation` value of the row's last status change (still
-- strictly increasing per row), so "which certificates changed since generation g" is one
-- indexed range scan. Values written before this migration are per-row counters, never larger
-- than the generation, so they read as "changed before now".
DROP TRIGGER certificates_status_update;
CREATE TRIGGER certificates_status_update
    AFTER UPDATE OF status, revoked_at, revocation_reason ON certificates
    WHEN OLD.status IS NOT NEW.status OR OLD.revoked_at IS NOT NEW.revoked_at
        OR OLD.revocation_reason IS NOT NEW.revocation_reason
BEGIN
    UPDATE status_generation SET generation = generation + 1 WHERE id = 1;
    UPDATE certificates SET status_version = (SELECT generation FROM status_generation WHERE id = 1)
        WHERE serial = NEW.serial;
END;
CREATE INDEX certificates_status_version ON certificates (status_version);

-- cRLNumbers are reserved here, in a statement of their own, before a CRL is signed, so that
-- signing a large CRL does not hold the writer lock. One atomic upsert per reservation: numbers
-- strictly increase across processes (gaps are allowed, RFC 5280 §5.2.3).
CREATE TABLE crl_numbers (
    ca_name TEXT NOT NULL,
    shard INTEGER NOT NULL,
    last BIGINT NOT NULL,
    PRIMARY KEY (ca_name, shard)
);
INSERT INTO crl_numbers (ca_name, shard, last) SELECT ca_name, shard, number FROM crls;
