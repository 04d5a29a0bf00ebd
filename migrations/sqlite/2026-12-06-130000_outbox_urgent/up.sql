-- Messages a person is waiting for (codes, the signed contract: `Outbox::enqueue`) are claimed
-- before notices (certificate notices, reminders), whatever their age: a burst of notices
-- (issuance under load, the reminder job) must not hold a code back until it expires. The
-- claim orders by (urgent DESC, next_attempt_at), which the due index serves as it is.
ALTER TABLE outbox_messages ADD COLUMN urgent BOOLEAN NOT NULL DEFAULT FALSE;
DROP INDEX outbox_messages_due;
CREATE INDEX outbox_messages_due ON outbox_messages (status, urgent DESC, next_attempt_at);
-- The rows of one claim, read back right after it (`Store::claim_outbox`). Without this the
-- read scanned every pending message for the claim's token: ~10 ms per round with 100,000
-- notices queued, on SQLite's writer lane, so draining a backlog took time quadratic in its
-- size. Only rows under claim are in it (a few batches), so enqueueing costs nothing more.
CREATE INDEX outbox_messages_claimed ON outbox_messages (claim_token, urgent DESC, next_attempt_at)
    WHERE claim_token IS NOT NULL AND status = 'pending';
