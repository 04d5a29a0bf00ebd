-- The citizen's documents as PDF (issue #13): the draft contract, the signed contract, the
-- acceptance record and the accepted record, each made once and never changed afterwards.
-- `subject` is the contract id (contract kinds) or the certificate serial (acceptance kinds).
CREATE TABLE pdf_documents (
    kind TEXT NOT NULL CHECK (kind IN
        ('contract_draft', 'contract_signed', 'acceptance_record', 'acceptance_signed')),
    subject TEXT NOT NULL,
    template_version TEXT NOT NULL,
    document BYTEA NOT NULL,
    document_sha256 TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (kind, subject)
);

CREATE FUNCTION pdf_documents_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'pdf document % % is immutable', OLD.kind, OLD.subject;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER pdf_documents_immutable BEFORE UPDATE OR DELETE ON pdf_documents
    FOR EACH ROW EXECUTE FUNCTION pdf_documents_immutable();
