-- Adoption reports (GET /api/v1/reports/issuance) count certificates by when they were signed,
-- accepted, revoked or expire; each count is a range on one indexed column. Migration 000010
-- indexes signed_at, revoked_at and acceptance_records.decided_at; expiry is the one left.
CREATE INDEX certificates_not_after ON certificates (not_after);
