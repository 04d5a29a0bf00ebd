DROP INDEX acceptance_records_decided;
CREATE INDEX acceptance_records_decided ON acceptance_records (decided_at);
