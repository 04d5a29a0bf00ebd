ALTER TABLE pdf_documents ALTER COLUMN document SET COMPRESSION default;
