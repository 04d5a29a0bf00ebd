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
SELECT 'legacy', 'Keys made before integrations', LOCALTIMESTAMP
WHERE EXISTS (SELECT 1 FROM api_keys);

ALTER TABLE api_keys ADD COLUMN integration_id TEXT REFERENCES integrations (id);
UPDATE api_keys SET integration_id = 'legacy';
ALTER TABLE api_keys ALTER COLUMN integration_id SET NOT NULL;
CREATE INDEX api_keys_integration ON api_keys (integration_id);

-- NULL: made by an operator at a counter (or a renewal of such an enrolment); only operators
-- and keys with `all_integrations` reach it.
ALTER TABLE enrolments ADD COLUMN integration_id TEXT REFERENCES integrations (id);
UPDATE enrolments SET integration_id = 'legacy'
WHERE EXISTS (SELECT 1 FROM integrations WHERE id = 'legacy')
  AND (submitted_by LIKE 'api_key:%' OR source IN ('vneid', 'app_ekyc'));

-- Who asked for the code (`api_key:<id>`, `operator:<username>`): the hourly cap counts per
-- recipient, purpose and initiator, so one caller cannot use up another's codes.
ALTER TABLE otp_challenges ADD COLUMN initiator TEXT NOT NULL DEFAULT '';
CREATE INDEX otp_challenges_cap ON otp_challenges (recipient_key, purpose, initiator, created_at);
