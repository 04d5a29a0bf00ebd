DROP INDEX certificates_spki;
CREATE UNIQUE INDEX certificates_spki ON certificates (spki_sha256)
    WHERE cert_der IS NOT NULL OR status = 'signing';
ALTER TABLE certificates DROP COLUMN key_released;
