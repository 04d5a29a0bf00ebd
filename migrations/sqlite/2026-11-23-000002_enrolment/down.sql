DROP TABLE video_call_outcomes;
DROP TABLE video_calls;
DROP TABLE enrolment_documents;
DROP TABLE enrolments;
DROP TABLE idempotency_keys;
