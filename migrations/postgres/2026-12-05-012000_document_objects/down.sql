-- Only possible once every document is back in the database
-- (`ca-enrol documents migrate --to database`): NOT NULL fails otherwise.
ALTER TABLE enrolment_documents DROP CONSTRAINT enrolment_documents_one_place;
ALTER TABLE enrolment_documents DROP COLUMN object_key;
ALTER TABLE enrolment_documents ALTER COLUMN sealed SET NOT NULL;
