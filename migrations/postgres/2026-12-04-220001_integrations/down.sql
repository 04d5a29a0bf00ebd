DROP INDEX otp_challenges_cap;
ALTER TABLE otp_challenges DROP COLUMN initiator;
ALTER TABLE enrolments DROP COLUMN integration_id;
ALTER TABLE api_keys DROP COLUMN integration_id;
DROP TABLE integrations;
