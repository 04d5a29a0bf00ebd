-- Integrations (the provider's app backend, the VNeID hub connector, a partner portal): every
-- API key belongs to one, and every enrolment made through a key records it. Keys reach only
-- their own integration's enrolments and what hangs off them (contracts, certificates,
-- acceptance records), unless they hold the scope `all_integrations`.
CREATE TABLE integrations (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- Keys made before integrations existed could all reach each other's enrolments; they keep
-- doing so by sharing one integration, until the administrator replaces them with keys of
-- separate integrations.
INSERT INTO integrations (id, name, created_at)
SELECT 'legacy', 'Keys made before integrations', CURRENT_TIMESTAMP
WHERE EXISTS (SELECT 1 FROM api_keys);

-- SQLite cannot add a NOT NULL column with a foreign key: rebuild the table.
CREATE TABLE api_keys_new (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    integration_id TEXT NOT NULL REFERENCES integrations (id)
);
INSERT INTO api_keys_new (id, name, scopes, secret_hash, created_at, revoked_at, integration_id)
SELECT id, name, scopes, secret_hash, created_at, revoked_at, 'legacy' FROM api_keys;
DROP TABLE api_keys;
ALTER TABLE api_keys_new RENAME TO api_keys;
CREATE INDEX api_keys_integration ON api_keys (integration_id);

-- NULL: made by an operator at a counter (or a renewal of such an enrolment); only operators
-- and keys with `all_integrations` reach it. (No foreign key here: SQLite could then not drop
-- the column again; PostgreSQL has one. Only the key's own integration is ever written.)
ALTER TABLE enrolments ADD COLUMN integration_id TEXT;
UPDATE enrolments SET integration_id = 'legacy'
WHERE EXISTS (SELECT 1 FROM integrations WHERE id = 'legacy')
  AND (submitted_by LIKE 'api_key:%' OR source IN ('vneid', 'app_ekyc'));

-- Who asked for the code (`api_key:<id>`, `operator:<username>`): the hourly cap counts per
-- recipient, purpose and initiator, so one caller cannot use up another's codes.
ALTER TABLE otp_challenges ADD COLUMN initiator TEXT NOT NULL DEFAULT '';
CREATE INDEX otp_challenges_cap ON otp_challenges (recipient_key, purpose, initiator, created_at);
