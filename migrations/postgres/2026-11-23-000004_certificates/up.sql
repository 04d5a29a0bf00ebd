-- Subscriber certificates, recorded before they are signed (record-then-sign): a row in status
-- 'signing' holds the serial and the exact to-be-signed bytes; signing fills cert_der.
CREATE TABLE certificates (
    serial TEXT PRIMARY KEY NOT NULL,          -- lower-case hex, positive, <= 20 octets
    ca_name TEXT NOT NULL,
    enrolment_id TEXT NOT NULL,
    package_code TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN
        ('signing', 'pending_acceptance', 'active', 'suspended', 'revoked', 'expired')),
    subject_dn TEXT NOT NULL,
    spki_sha256 TEXT NOT NULL,
    key_description TEXT NOT NULL,
    not_before TIMESTAMP NOT NULL,
    not_after TIMESTAMP NOT NULL,
    crl_shard INTEGER NOT NULL,
    tbs_der BYTEA NOT NULL,
    cert_der BYTEA,
    created_at TIMESTAMP NOT NULL,
    signed_at TIMESTAMP,
    revoked_at TIMESTAMP,
    revocation_reason TEXT
);
-- Decree 23 art. 38: a key pair is certified once, ever.
CREATE UNIQUE INDEX certificates_spki ON certificates (spki_sha256);
CREATE INDEX certificates_enrolment ON certificates (enrolment_id);
CREATE INDEX certificates_status ON certificates (status);
