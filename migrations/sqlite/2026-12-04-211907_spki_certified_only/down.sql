DROP INDEX certificates_spki_lookup;
DROP INDEX certificates_spki;
CREATE UNIQUE INDEX certificates_spki ON certificates (spki_sha256);
