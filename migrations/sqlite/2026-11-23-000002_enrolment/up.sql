-- Enrolments (eKYC intake), their identity documents, the video-call queue and its outcomes,
-- and a generic idempotency-key table for retried POSTs.

CREATE TABLE idempotency_keys (
    -- Who sent the key (API key or operator id): two callers' keys never collide.
    principal TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    -- The operation, e.g. `enrolment.submit`, so one key cannot replay another endpoint.
    operation TEXT NOT NULL,
    request_sha256 TEXT NOT NULL,
    response_status INTEGER NOT NULL,
    response_body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (principal, idempotency_key)
);

CREATE TABLE enrolments (
    id TEXT PRIMARY KEY NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('vneid', 'app_ekyc', 'counter')),
    status TEXT NOT NULL CHECK (status IN ('awaiting_documents', 'awaiting_video_call',
        'verified', 'contract_signed', 'certificate_issued', 'rejected', 'expired', 'withdrawn')),
    id_number TEXT NOT NULL,
    full_name TEXT NOT NULL,
    date_of_birth DATE NOT NULL,
    sex TEXT NOT NULL CHECK (sex IN ('male', 'female')),
    nationality TEXT NOT NULL,
    permanent_address TEXT NOT NULL,
    permanent_ward TEXT NOT NULL,
    permanent_province TEXT NOT NULL,
    current_address TEXT,
    current_ward TEXT,
    current_province TEXT,
    id_issue_date DATE NOT NULL,
    id_issue_place TEXT NOT NULL,
    id_expiry_date DATE,
    phone TEXT NOT NULL,
    email TEXT,
    consent_version TEXT NOT NULL,
    consent_text_sha256 TEXT NOT NULL,
    consent_given_at TIMESTAMP NOT NULL,
    consent_channel TEXT NOT NULL,
    submitted_by TEXT NOT NULL,
    -- The operator who enrolled the citizen at a counter.
    enrolled_by TEXT REFERENCES operators (id),
    -- How the identity was verified: `vneid_level2`, `counter_operator`, `video_call`,
    -- `prior_video_call`.
    verified_by TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- One open enrolment per ID number. The list of open states is repeated in
-- `enrolment::Status::is_open`; change both together.
CREATE UNIQUE INDEX enrolments_one_open ON enrolments (id_number)
    WHERE status IN ('awaiting_documents', 'awaiting_video_call', 'verified', 'contract_signed');
CREATE INDEX enrolments_id_number ON enrolments (id_number);

-- Face images are sensitive personal data: only AES-256-GCM ciphertext is stored here, under a
-- key derived from the master key, which never enters the database.
CREATE TABLE enrolment_documents (
    enrolment_id TEXT NOT NULL REFERENCES enrolments (id),
    kind TEXT NOT NULL CHECK (kind IN ('id_front', 'id_back', 'portrait', 'liveness')),
    content_type TEXT NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png')),
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    sealed BLOB NOT NULL,
    uploaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (enrolment_id, kind)
);

-- One queue entry per enrolment that needs a video call.
CREATE TABLE video_calls (
    id TEXT PRIMARY KEY NOT NULL,
    enrolment_id TEXT NOT NULL UNIQUE REFERENCES enrolments (id),
    status TEXT NOT NULL CHECK (status IN ('waiting', 'claimed', 'done')),
    -- Queue order. Kept when a lease lapses (back to the head), reset on a no-show (to the tail).
    queued_at TIMESTAMP NOT NULL,
    no_shows INTEGER NOT NULL DEFAULT 0,
    claimed_by TEXT REFERENCES operators (id),
    claimed_at TIMESTAMP,
    lease_expires_at TIMESTAMP,
    room_ref TEXT
);
CREATE INDEX video_calls_queue ON video_calls (status, queued_at);

-- Every recorded outcome (a re-queued applicant has several).
CREATE TABLE video_call_outcomes (
    id TEXT PRIMARY KEY NOT NULL,
    video_call_id TEXT NOT NULL REFERENCES video_calls (id),
    enrolment_id TEXT NOT NULL REFERENCES enrolments (id),
    operator_id TEXT NOT NULL REFERENCES operators (id),
    outcome TEXT NOT NULL CHECK (outcome IN ('approved', 'rejected', 'no_show')),
    -- JSON object of checklist item -> bool.
    checklist TEXT NOT NULL,
    reason_code TEXT,
    note TEXT,
    recording_uri TEXT,
    recording_sha256 TEXT,
    claimed_at TIMESTAMP NOT NULL,
    decided_at TIMESTAMP NOT NULL
);
CREATE INDEX video_call_outcomes_decided ON video_call_outcomes (decided_at);
CREATE INDEX video_call_outcomes_enrolment ON video_call_outcomes (enrolment_id);
