-- Whether a certificate's key is free for another certificate: set once, when a recorded
-- certificate is revoked unsigned (its signing abandoned, `Tx::revoke_unsigned`). The unique
-- index of certified keys had the predicate `cert_der IS NOT NULL OR status = 'signing'`, the
-- same rows as `NOT key_released`; but an UPDATE that sets a column of a partial index's
-- predicate rewrites the row's entry, so storing every signed certificate, and every later
-- change of status, deleted and inserted its entry again. The entries are digests, at random
-- places in the index: each was a page of its own in the commit (on SQLite's single writer,
-- a page more to write to the WAL per certificate, in both issuance transactions). The
-- predicate now names a column that changes at most once.
ALTER TABLE certificates ADD COLUMN key_released BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE certificates SET key_released = TRUE WHERE cert_der IS NULL AND status <> 'signing';
DROP INDEX certificates_spki;
CREATE UNIQUE INDEX certificates_spki ON certificates (spki_sha256) WHERE NOT key_released;
