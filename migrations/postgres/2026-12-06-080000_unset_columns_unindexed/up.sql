-- Columns a certificate is recorded without (`signed_at` until it is signed, `revoked_at` until
-- it is revoked or suspended, `supersedes` unless it renews or rekeys one) are indexed only where
-- set. Every query on them compares them with a value, which implies IS NOT NULL, so both
-- databases still use these indexes; recording a certificate no longer inserts three NULL
-- entries, nor does storing it move one; and at national scale the revocation index holds
-- the revoked, not every certificate.
DROP INDEX certificates_signed;
CREATE INDEX certificates_signed ON certificates (signed_at) INCLUDE (enrolment_id)
    WHERE signed_at IS NOT NULL;
DROP INDEX certificates_revoked;
CREATE INDEX certificates_revoked ON certificates (revoked_at) WHERE revoked_at IS NOT NULL;
DROP INDEX certificates_supersedes;
CREATE INDEX certificates_supersedes ON certificates (supersedes) WHERE supersedes IS NOT NULL;
