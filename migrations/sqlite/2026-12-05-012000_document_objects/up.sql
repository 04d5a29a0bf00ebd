-- Identity documents in S3-compatible object storage (issue 21). A document's ciphertext is
-- either in its row (`sealed`) or in the object store under `object_key` (random, opaque),
-- never both. SQLite cannot relax NOT NULL in place: the table is rebuilt (no table refers
-- to it).
CREATE TABLE enrolment_documents_new (
    enrolment_id TEXT NOT NULL REFERENCES enrolments (id),
    kind TEXT NOT NULL CHECK (kind IN ('id_front', 'id_back', 'portrait', 'liveness')),
    content_type TEXT NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png')),
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    sealed BLOB,
    uploaded_at TIMESTAMP NOT NULL,
    key_id TEXT,
    object_key TEXT UNIQUE,
    PRIMARY KEY (enrolment_id, kind),
    CHECK ((sealed IS NULL) <> (object_key IS NULL))
);
INSERT INTO enrolment_documents_new
    (enrolment_id, kind, content_type, size_bytes, sha256, sealed, uploaded_at, key_id)
    SELECT enrolment_id, kind, content_type, size_bytes, sha256, sealed, uploaded_at, key_id
    FROM enrolment_documents;
DROP TABLE enrolment_documents;
ALTER TABLE enrolment_documents_new RENAME TO enrolment_documents;
CREATE INDEX enrolment_documents_uploaded ON enrolment_documents (uploaded_at);
