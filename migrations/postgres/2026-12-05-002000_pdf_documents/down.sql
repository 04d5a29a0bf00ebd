DROP TABLE pdf_documents;
DROP FUNCTION pdf_documents_immutable();
