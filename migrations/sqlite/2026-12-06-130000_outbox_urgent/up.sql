-- Messages a person is waiting for (codes, the signed contract: `Outbox::enqueue`)
-- are claimed before notices (certificate notices, reminders), whatever their age: a burst of
-- notices (issuance under load, the reminder job) must not hold a code back until it expires.
-- The claim orders by (urgent DESC, next_attempt_at), which this index serves as it is.
ALTER TABLE outbox_messages ADD COLUMN urgent BOOLEAN NOT NULL DEFAULT FALSE;
DROP INDEX outbox_messages_due;
CREATE INDEX outbox_messages_due ON outbox_messages (status, urgent DESC, next_attempt_at);
