-- Only possible once every document is back in the database
-- (`ca-enrol documents migrate --to database`): NOT NULL fails otherwise.
CREATE TABLE enrolment_documents_old (
    enrolment_id TEXT NOT NULL REFERENCES enrolments (id),
    kind TEXT NOT NULL CHECK (kind IN ('id_front', 'id_back', 'portrait', 'liveness')),
    content_type TEXT NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png')),
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    sealed BLOB NOT NULL,
    uploaded_at TIMESTAMP NOT NULL,
    key_id TEXT,
    PRIMARY KEY (enrolment_id, kind)
);
INSERT INTO enrolment_documents_old
    (enrolment_id, kind, content_type, size_bytes, sha256, sealed, uploaded_at, key_id)
    SELECT enrolment_id, kind, content_type, size_bytes, sha256, sealed, uploaded_at, key_id
    FROM enrolment_documents;
DROP TABLE enrolment_documents;
ALTER TABLE enrolment_documents_old RENAME TO enrolment_documents;
CREATE INDEX enrolment_documents_uploaded ON enrolment_documents (uploaded_at);
