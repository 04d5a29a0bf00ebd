-- Status serving at scale. OCSP freshness at one small read per batch of requests instead of
-- one per request:
-- `status_version` becomes the `status_generation` value of the row's last status change (still
-- strictly increasing per row), so "which certificates changed since generation g" is one
-- indexed range scan. Values written before this migration are per-row counters, never larger
-- than the generation, so they read as "changed before now". The generation row stays locked
-- until commit, so generations are handed out in commit order: once a reader sees generation g
-- committed, every row stamped g or less is visible.
CREATE OR REPLACE FUNCTION certificates_status_changed() RETURNS trigger AS $$
DECLARE
    g BIGINT;
BEGIN
    IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status
        OR NEW.revoked_at IS DISTINCT FROM OLD.revoked_at
        OR NEW.revocation_reason IS DISTINCT FROM OLD.revocation_reason THEN
        UPDATE status_generation SET generation = generation + 1 WHERE id = 1
            RETURNING generation INTO g;
        IF TG_OP = 'UPDATE' THEN
            NEW.status_version := g;
        END IF;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
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
