-- The acceptance record (biên bản nghiệm thu và bàn giao chứng thư số) of one certificate:
-- rendered once, then confirmed with an OTP, rejected, or expired by the deadline job.
CREATE TABLE acceptance_records (
    serial TEXT PRIMARY KEY NOT NULL REFERENCES certificates (serial),
    enrolment_id TEXT NOT NULL,
    contract_id TEXT NOT NULL,
    template_version TEXT NOT NULL,
    document BYTEA NOT NULL,
    document_sha256 TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'rejected', 'expired')),
    created_at TIMESTAMP NOT NULL,
    -- Reminders sent so far by the deadline job (day 1, day 5).
    reminders_sent INTEGER NOT NULL DEFAULT 0,
    decided_at TIMESTAMP,
    decided_by TEXT,
    otp_challenge_id TEXT,
    otp_channel TEXT,
    otp_masked_destination TEXT,
    client_ip TEXT,
    user_agent TEXT,
    rejection_reason TEXT,
    CHECK (status <> 'accepted' OR (decided_at IS NOT NULL AND otp_challenge_id IS NOT NULL
        AND otp_channel IS NOT NULL AND otp_masked_destination IS NOT NULL))
);
CREATE INDEX acceptance_records_enrolment ON acceptance_records (enrolment_id);

-- What the citizen confirmed never changes: the document always, everything once decided.
CREATE FUNCTION acceptance_records_immutable() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'acceptance record % is immutable', OLD.serial;
    END IF;
    IF OLD.status <> 'pending' OR NEW.serial IS DISTINCT FROM OLD.serial
        OR NEW.document IS DISTINCT FROM OLD.document
        OR NEW.document_sha256 IS DISTINCT FROM OLD.document_sha256
        OR NEW.template_version IS DISTINCT FROM OLD.template_version
        OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'acceptance record % is immutable', OLD.serial;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER acceptance_records_immutable BEFORE UPDATE OR DELETE ON acceptance_records
    FOR EACH ROW EXECUTE FUNCTION acceptance_records_immutable();
