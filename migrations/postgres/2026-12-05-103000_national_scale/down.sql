DROP INDEX enrolments_places;
DROP INDEX acceptance_records_accepted;
DROP INDEX certificates_not_after;
CREATE INDEX certificates_not_after ON certificates (not_after);
DROP INDEX certificates_signed;
CREATE INDEX certificates_signed ON certificates (signed_at);
DROP INDEX certificates_crl;
