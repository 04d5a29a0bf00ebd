-- Adoption reports (GET /api/v1/reports/issuance) count certificates by when they were signed,
-- accepted, revoked or expire; each of those queries is a range on one of these columns.
CREATE INDEX certificates_signed_at ON certificates (signed_at);
CREATE INDEX certificates_revoked_at ON certificates (revoked_at);
CREATE INDEX certificates_not_after ON certificates (not_after);
CREATE INDEX acceptance_records_decided ON acceptance_records (status, decided_at);
