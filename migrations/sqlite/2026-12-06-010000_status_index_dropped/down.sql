CREATE INDEX certificates_status ON certificates (status);
