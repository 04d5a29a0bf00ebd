DROP TRIGGER acceptance_records_no_delete;
DROP TRIGGER acceptance_records_immutable;
DROP TABLE acceptance_records;
