DROP INDEX otp_challenges_cap;
ALTER TABLE otp_challenges DROP COLUMN initiator;
ALTER TABLE enrolments DROP COLUMN integration_id;
CREATE TABLE api_keys_old (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
INSERT INTO api_keys_old (id, name, scopes, secret_hash, created_at, revoked_at)
SELECT id, name, scopes, secret_hash, created_at, revoked_at FROM api_keys;
DROP TABLE api_keys;
ALTER TABLE api_keys_old RENAME TO api_keys;
DROP TABLE integrations;
