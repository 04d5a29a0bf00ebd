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

-- A third outbox channel: signed status callbacks to the hub.
ALTER TABLE outbox_messages DROP CONSTRAINT outbox_messages_channel_check;
ALTER TABLE outbox_messages ADD CONSTRAINT outbox_messages_channel_check
    CHECK (channel IN ('sms', 'email', 'vneid_hub'));
