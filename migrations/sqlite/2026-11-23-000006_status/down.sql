DROP TABLE crls;
DROP TRIGGER certificates_status_update;
DROP TRIGGER certificates_status_insert;
DROP TABLE status_generation;
ALTER TABLE certificates DROP COLUMN status_version;
