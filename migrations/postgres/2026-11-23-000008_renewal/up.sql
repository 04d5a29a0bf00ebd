-- Renewal, rekey and expiry.
--
-- A renewal is a new enrolment for the same identity, copied from the renewed certificate's
-- enrolment (`enrolments.renews` names that certificate), with a new contract; a rekey is a new
-- certificate for the same enrolment and contract. Either new certificate names the one it
-- replaces in `certificates.supersedes`, set when it is recorded; the replaced certificate is
-- revoked (`superseded`) in the transaction that accepts the new one. Whether a replacement is
-- pending is derived from these columns and the statuses (an open renewal enrolment, or a
-- superseding certificate still signing or awaiting acceptance), so a rejected, expired or
-- abandoned replacement stops being pending without any bookkeeping.
ALTER TABLE certificates ADD COLUMN supersedes TEXT;
CREATE INDEX certificates_supersedes ON certificates (supersedes);
ALTER TABLE enrolments ADD COLUMN renews TEXT;
CREATE INDEX enrolments_renews ON enrolments (renews);

-- The expiry job's candidates: certificates of a status by end of validity.
CREATE INDEX certificates_status_not_after ON certificates (status, not_after);

-- Expiry reminders sent: one row per certificate and reminder (days before notAfter), written
-- in the transaction that enqueues the messages, so each goes out once however many processes
-- run the job.
CREATE TABLE expiry_reminders (
    serial TEXT NOT NULL REFERENCES certificates (serial),
    days_before INTEGER NOT NULL,
    sent_at TIMESTAMP NOT NULL,
    PRIMARY KEY (serial, days_before)
);
