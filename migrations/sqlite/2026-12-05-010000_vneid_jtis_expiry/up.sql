-- The retention job deletes `jti`s past their token's expiry through this index.
CREATE INDEX vneid_jtis_expires_at ON vneid_jtis (expires_at);
