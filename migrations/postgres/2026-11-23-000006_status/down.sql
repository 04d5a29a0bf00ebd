DROP TABLE crls;
DROP TRIGGER certificates_status_changed ON certificates;
DROP FUNCTION certificates_status_changed();
DROP TABLE status_generation;
ALTER TABLE certificates DROP COLUMN status_version;
