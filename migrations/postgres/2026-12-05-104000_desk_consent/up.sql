-- The citizen's own act of consent at the desk (issue #17): how it was given (the drawn
-- signature, sealed under its own data key of purpose 'signature' as a contract's, with its
-- SHA-256) and the operator who witnessed it. The consent text's version, SHA-256 and time
-- stay on the enrolment, as for every channel.
CREATE TABLE consent_evidence (
    enrolment_id TEXT PRIMARY KEY NOT NULL REFERENCES enrolments (id),
    method TEXT NOT NULL CHECK (method IN ('signature_pad')),
    witnessed_by TEXT NOT NULL REFERENCES operators (id),
    signature_image BYTEA NOT NULL,
    signature_key_id TEXT NOT NULL,
    signature_sha256 TEXT NOT NULL
);

-- What the citizen consented with never changes, for anyone with SQL access either.
CREATE FUNCTION consent_evidence_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'consent evidence of enrolment % is immutable', OLD.enrolment_id;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER consent_evidence_immutable BEFORE UPDATE OR DELETE ON consent_evidence
    FOR EACH ROW EXECUTE FUNCTION consent_evidence_immutable();
