-- A CRL is stored as it is, not compressed in TOAST: PostgreSQL's pglz took about a second
-- per million entries (49 MB) inside the storing transaction, for a value that is read back
-- whole and served as it is. Applies to CRLs stored from now on.
ALTER TABLE crls ALTER COLUMN der SET STORAGE EXTERNAL;
