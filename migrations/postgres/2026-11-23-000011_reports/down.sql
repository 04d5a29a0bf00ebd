DROP INDEX acceptance_records_decided;
DROP INDEX certificates_not_after;
DROP INDEX certificates_revoked_at;
DROP INDEX certificates_signed_at;
