-- One row: the master key's check value (an HMAC of a fixed label under a sub-key derived from
-- the master key), stored at first run. Every start compares it, so a process with a missing,
-- regenerated or different key refuses to start instead of failing on every sealed secret.
CREATE TABLE master_key_check (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    check_value TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
