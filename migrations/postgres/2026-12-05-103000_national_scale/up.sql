-- National-scale reads (issue #18, benches/national): measured on 1 million certificates, these
-- scanned the wide certificate and enrolment rows (the certificate's DER sits in the row) where a
-- narrow index can answer alone (index-only scans; the visibility map is kept by autovacuum).
--
-- The CRL's rows (`Tx::crl_entries`): every listed certificate with the columns `StatusRow`
-- reads. The predicate is `CertificateStatus::LISTED_ON_CRL` plus an expired
-- certificate that was on hold (the query's filter); change them together.
CREATE INDEX certificates_crl ON certificates (ca_name, crl_shard)
    INCLUDE (serial, status, status_version, created_at, revoked_at, revocation_reason)
    WHERE status IN ('revoked', 'suspended', 'pending_acceptance', 'signing')
        OR (status = 'expired' AND revoked_at IS NOT NULL);
-- Adoption reports (`store/reports.rs`): each count is a time range joined to the enrolment's
-- address, so the time indexes carry the join key and the enrolment's places come from an index.
DROP INDEX certificates_signed;
CREATE INDEX certificates_signed ON certificates (signed_at) INCLUDE (enrolment_id);
DROP INDEX certificates_not_after;
CREATE INDEX certificates_not_after ON certificates (not_after)
    INCLUDE (revoked_at, serial, enrolment_id);
CREATE INDEX acceptance_records_accepted ON acceptance_records (decided_at)
    INCLUDE (serial, enrolment_id) WHERE status = 'accepted';
CREATE INDEX enrolments_places ON enrolments (id)
    INCLUDE (permanent_province, permanent_ward, current_province, current_ward);
