DROP TABLE expiry_reminders;
DROP INDEX certificates_status_not_after;
DROP INDEX enrolments_renews;
ALTER TABLE enrolments DROP COLUMN renews;
DROP INDEX certificates_supersedes;
ALTER TABLE certificates DROP COLUMN supersedes;
