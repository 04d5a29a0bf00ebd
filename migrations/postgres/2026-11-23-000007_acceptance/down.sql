DROP TRIGGER acceptance_records_immutable ON acceptance_records;
DROP FUNCTION acceptance_records_immutable();
DROP TABLE acceptance_records;
