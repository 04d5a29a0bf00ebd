CREATE INDEX certificates_spki_lookup ON certificates (spki_sha256);
