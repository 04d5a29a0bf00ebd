-- Data minimisation (issue 14, point 11): per-object data keys for crypto-shredding, the
-- record of destroyed documents, and the indexes the retention job's bounded batches use.

-- One random AES-256-GCM key per identity document and per signature image, wrapped by the
-- master key (bound to its id). Deleting a row destroys its object, also in every copy of the
-- ciphertext kept apart from this table (an object store, exports, backups once the key's own
-- copies have aged out). The objects name their key without a foreign key: a signed contract
-- never changes, so its signature's key must be deletable under it.
CREATE TABLE data_keys (
    id TEXT PRIMARY KEY NOT NULL,
    purpose TEXT NOT NULL CHECK (purpose IN ('document', 'signature')),
    wrapped BLOB NOT NULL,
    created_at TIMESTAMP NOT NULL
);
-- NULL: sealed before this migration (documents under the master key's derived document key,
-- signature images in clear); read as such, destroyed by deleting the row.
ALTER TABLE enrolment_documents ADD COLUMN key_id TEXT;
ALTER TABLE contracts ADD COLUMN signature_key_id TEXT;

-- Which enrolments' documents were destroyed, when and why, so a later read answers
-- `document_destroyed` rather than "never uploaded". The audit event of the destruction
-- lists each document's kind and SHA-256.
CREATE TABLE destroyed_documents (
    enrolment_id TEXT PRIMARY KEY NOT NULL REFERENCES enrolments (id),
    reason TEXT NOT NULL CHECK (reason IN ('withdrawn', 'retention')),
    destroyed_at TIMESTAMP NOT NULL
);

CREATE INDEX enrolment_documents_uploaded ON enrolment_documents (uploaded_at);
CREATE INDEX otp_challenges_created ON otp_challenges (created_at);
CREATE INDEX outbox_messages_sent ON outbox_messages (sent_at) WHERE status = 'sent';
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
CREATE INDEX enrolments_closed ON enrolments (updated_at) WHERE status IN ('rejected', 'expired');
