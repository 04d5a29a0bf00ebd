DROP INDEX outbox_messages_claimed;
DROP INDEX outbox_messages_due;
ALTER TABLE outbox_messages DROP COLUMN urgent;
CREATE INDEX outbox_messages_due ON outbox_messages (status, next_attempt_at);
