-- The citizen's documents as PDF (issue #13): the draft contract, the signed contract, the
-- acceptance record and the accepted record, each made once and never changed afterwards.
-- `subject` is the contract id (contract kinds) or the certificate serial (acceptance kinds).
CREATE TABLE pdf_documents (
    kind TEXT NOT NULL CHECK (kind IN
        ('contract_draft', 'contract_signed', 'acceptance_record', 'acceptance_signed')),
    subject TEXT NOT NULL,
    template_version TEXT NOT NULL,
    document BLOB NOT NULL,
    document_sha256 TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (kind, subject)
);

CREATE TRIGGER pdf_documents_immutable BEFORE UPDATE ON pdf_documents
BEGIN
    SELECT RAISE(ABORT, 'pdf document is immutable');
END;
CREATE TRIGGER pdf_documents_no_delete BEFORE DELETE ON pdf_documents
BEGIN
    SELECT RAISE(ABORT, 'pdf document is immutable');
END;
