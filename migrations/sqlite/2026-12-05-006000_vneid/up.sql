-- The VNeID hub connector: registrations signed by the national hub, the `jti`s already seen
-- (replays refused, across processes), and status callbacks to the hub through the outbox.

-- One row per hub transaction: a retried transaction finds its enrolment here. The hand-over
-- token is kept as its SHA-256 only; redeeming it sets `handed_over_at` once.
CREATE TABLE vneid_registrations (
    transaction_id TEXT PRIMARY KEY NOT NULL,
    enrolment_id TEXT NOT NULL UNIQUE,
    request_sha256 TEXT NOT NULL,
    handover_sha256 TEXT NOT NULL UNIQUE,
    handover_expires_at TIMESTAMP NOT NULL,
    handed_over_at TIMESTAMP,
    handed_over_to TEXT,
    created_at TIMESTAMP NOT NULL
);

-- Every accepted registration's `jti`, kept past its token's `exp` (a token is refused once
-- expired anyway, so older rows may be purged).
CREATE TABLE vneid_jtis (
    jti TEXT PRIMARY KEY NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- A third outbox channel: signed status callbacks to the hub. SQLite cannot change a CHECK:
-- rebuild the table.
CREATE TABLE outbox_messages_new (
    id TEXT PRIMARY KEY NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('sms', 'email', 'vneid_hub')),
    kind TEXT NOT NULL,
    masked_destination TEXT NOT NULL,
    payload_sealed BLOB NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    not_after TIMESTAMP,
    claimed_until TIMESTAMP,
    claim_token TEXT,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
INSERT INTO outbox_messages_new SELECT id, channel, kind, masked_destination, payload_sealed,
    status, attempts, next_attempt_at, not_after, claimed_until, claim_token, last_error,
    created_at, sent_at FROM outbox_messages;
DROP TABLE outbox_messages;
ALTER TABLE outbox_messages_new RENAME TO outbox_messages;
CREATE INDEX outbox_messages_due ON outbox_messages (status, next_attempt_at);
CREATE INDEX outbox_messages_sent ON outbox_messages (sent_at) WHERE status = 'sent';
