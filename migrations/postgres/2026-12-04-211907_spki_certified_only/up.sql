-- A key pair is certified once, ever (Decree 23 art. 38), but a row revoked before it was
-- signed (its issuance failed, or a stopped process left it in 'signing' and recovery revoked
-- it) never certified its key: the citizen may send the same key again. The uniqueness covers
-- rows that were signed or may still be; a plain index serves the lookup.
DROP INDEX certificates_spki;
CREATE UNIQUE INDEX certificates_spki ON certificates (spki_sha256)
    WHERE cert_der IS NOT NULL OR status = 'signing';
CREATE INDEX certificates_spki_lookup ON certificates (spki_sha256);
