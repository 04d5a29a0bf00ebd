DROP INDEX recording_webhook_nonces_received;
ALTER TABLE enrolments DROP COLUMN name_folded;
