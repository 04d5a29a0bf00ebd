-- One-time-password challenges and the outbox of messages to deliver (SMS, e-mail).
-- No clear personal data or secrets here: the code is kept as an HMAC, the recipient as a keyed
-- hash (for the hourly cap) plus a masked form (evidence), and the outgoing message sealed.

CREATE TABLE otp_challenges (
    id TEXT PRIMARY KEY NOT NULL,
    purpose TEXT NOT NULL,
    subject TEXT NOT NULL,
    document_digest TEXT NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('sms', 'email')),
    recipient_key TEXT NOT NULL,
    masked_destination TEXT NOT NULL,
    code_hmac TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'consumed', 'locked', 'superseded')),
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    consumed_at TIMESTAMP,
    outbox_message_id TEXT NOT NULL
);
CREATE INDEX otp_challenges_subject ON otp_challenges (subject, purpose, created_at);
CREATE INDEX otp_challenges_recipient ON otp_challenges (recipient_key, created_at);

CREATE TABLE outbox_messages (
    id TEXT PRIMARY KEY NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('sms', 'email')),
    kind TEXT NOT NULL,
    masked_destination TEXT NOT NULL,
    payload_sealed BYTEA NOT NULL,
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
CREATE INDEX outbox_messages_due ON outbox_messages (status, next_attempt_at);
