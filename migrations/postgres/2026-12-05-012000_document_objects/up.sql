-- Identity documents in S3-compatible object storage (issue 21). A document's ciphertext is
-- either in its row (`sealed`) or in the object store under `object_key` (random, opaque),
-- never both.
ALTER TABLE enrolment_documents ALTER COLUMN sealed DROP NOT NULL;
ALTER TABLE enrolment_documents ADD COLUMN object_key TEXT UNIQUE;
ALTER TABLE enrolment_documents ADD CONSTRAINT enrolment_documents_one_place
    CHECK ((sealed IS NULL) <> (object_key IS NULL));
