-- Remote signing (CSC API v2): credentials (a subscriber key held by the provider, linked to
-- its certificate), signature activation data (SAD) and the signatures made.

-- A credential row is written in state 'pending' before its key is generated (crash order:
-- a key never exists without its row); 'ready' once its certificate is recorded;
-- 'destroyed' once its key is gone (recovery of an issuance that stopped, or refused).
-- The key is named by the credential id (PKCS#11 label); a software key (development only)
-- is sealed into 'sealed_key'.
CREATE TABLE csc_credentials (
    id TEXT PRIMARY KEY NOT NULL,
    enrolment_id TEXT NOT NULL,
    certificate_serial TEXT UNIQUE,
    key_algorithm TEXT NOT NULL CHECK (key_algorithm IN ('P-256', 'RSA-2048')),
    key_store TEXT NOT NULL CHECK (key_store IN ('pkcs11', 'software')),
    sealed_key BLOB,
    spki_der BLOB,
    state TEXT NOT NULL CHECK (state IN ('pending', 'ready', 'destroyed')),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX csc_credentials_enrolment ON csc_credentials (enrolment_id);
CREATE INDEX csc_credentials_pending ON csc_credentials (state, created_at);

-- One SAD per authorisation: only its SHA-256 is stored; single use ('used_at' set by a
-- conditional update), bound to the exact hashes (lower-case hex, one per line) and count.
CREATE TABLE csc_authorizations (
    id TEXT PRIMARY KEY NOT NULL,
    sad_sha256 TEXT NOT NULL UNIQUE,
    credential_id TEXT NOT NULL,
    hashes TEXT NOT NULL,
    num_signatures INTEGER NOT NULL,
    otp_challenge_id TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);

-- Every signature made with a credential (the audit event carries the same facts).
CREATE TABLE csc_signatures (
    id TEXT PRIMARY KEY NOT NULL,
    credential_id TEXT NOT NULL,
    certificate_serial TEXT NOT NULL,
    hash_sha256 TEXT NOT NULL,
    sad_id TEXT NOT NULL,
    signed_at TIMESTAMP NOT NULL
);
CREATE INDEX csc_signatures_certificate ON csc_signatures (certificate_serial, signed_at);
