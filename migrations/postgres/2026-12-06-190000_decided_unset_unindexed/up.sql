-- An acceptance record is stored undecided (`decided_at` NULL) with its certificate, and every
-- query on `decided_at` compares it with a value, which implies IS NOT NULL: indexing only the
-- decided records spares the storing transaction of every issuance one index write (issue #18).
DROP INDEX acceptance_records_decided;
CREATE INDEX acceptance_records_decided ON acceptance_records (decided_at) WHERE decided_at IS NOT NULL;
