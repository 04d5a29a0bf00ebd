DROP INDEX enrolments_closed;
DROP INDEX idempotency_keys_created;
DROP INDEX outbox_messages_sent;
DROP INDEX otp_challenges_created;
DROP INDEX enrolment_documents_uploaded;
DROP TABLE destroyed_documents;
ALTER TABLE contracts DROP COLUMN signature_key_id;
ALTER TABLE enrolment_documents DROP COLUMN key_id;
DROP TABLE data_keys;
