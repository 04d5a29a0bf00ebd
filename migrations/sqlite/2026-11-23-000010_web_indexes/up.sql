-- Operator pages: enrolment search, the dashboard's daily figures, audit filters.
CREATE INDEX enrolments_phone ON enrolments (phone);
CREATE INDEX enrolments_created ON enrolments (created_at);
CREATE INDEX enrolments_status_created ON enrolments (status, created_at);
CREATE INDEX certificates_signed ON certificates (signed_at);
CREATE INDEX certificates_revoked ON certificates (revoked_at);
CREATE INDEX contracts_signed ON contracts (signed_at);
CREATE INDEX acceptance_records_decided ON acceptance_records (decided_at);
CREATE INDEX audit_events_action_at ON audit_events (action, at);
CREATE INDEX audit_events_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_at ON audit_events (at);
