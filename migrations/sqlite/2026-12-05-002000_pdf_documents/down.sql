DROP TABLE pdf_documents;
