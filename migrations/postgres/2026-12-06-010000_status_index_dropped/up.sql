-- `certificates_status_not_after (status, not_after)` answers every lookup by status alone
-- (its leading column), so this index only cost each issuance, renewal and revocation two more
-- index writes (issue #18).
DROP INDEX certificates_status;
