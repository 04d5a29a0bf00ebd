DROP INDEX certificates_signed;
CREATE INDEX certificates_signed ON certificates (signed_at);
DROP INDEX certificates_revoked;
CREATE INDEX certificates_revoked ON certificates (revoked_at);
DROP INDEX certificates_supersedes;
CREATE INDEX certificates_supersedes ON certificates (supersedes);
