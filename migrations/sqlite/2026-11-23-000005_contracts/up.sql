-- The package catalogue, contracts with their yearly numbering, and the free-package right.

CREATE TABLE packages (
    code TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    price_vnd BIGINT NOT NULL CHECK (price_vnd >= 0),
    term_months INTEGER NOT NULL CHECK (term_months BETWEEN 1 AND 36),
    -- One free package per ID number ever (see free_package_claims).
    free BOOLEAN NOT NULL CHECK (NOT free OR price_vnd = 0),
    certificate_profile TEXT NOT NULL,
    -- Versioned template under templates/contracts/, without extension.
    contract_template TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    sort_order INTEGER NOT NULL
);

INSERT INTO packages
    (code, name, price_vnd, term_months, free, certificate_profile, contract_template, sort_order)
VALUES
    ('PS0', 'Gói cá nhân PS0 (Công dân)', 0, 12, TRUE, 'personal', 'ps-personal-v1', 0),
    ('PS12', 'Gói cá nhân PS12 (12 tháng)', 385000, 12, FALSE, 'personal', 'ps-personal-v1', 12),
    ('PS24', 'Gói cá nhân PS24 (24 tháng)', 700000, 24, FALSE, 'personal', 'ps-personal-v1', 24),
    ('PS36', 'Gói cá nhân PS36 (36 tháng)', 990000, 36, FALSE, 'personal', 'ps-personal-v1', 36);

-- Gap-free contract numbers: one row per year, incremented in the transaction that creates the
-- contract, so a rolled-back creation gives its number back.
CREATE TABLE contract_counters (
    year INTEGER PRIMARY KEY NOT NULL,
    last_number BIGINT NOT NULL
);

CREATE TABLE contracts (
    id TEXT PRIMARY KEY NOT NULL,
    number TEXT NOT NULL UNIQUE,
    enrolment_id TEXT NOT NULL REFERENCES enrolments (id),
    package_code TEXT NOT NULL REFERENCES packages (code),
    -- Copied from the catalogue and the enrolment: what was agreed, even if those change.
    id_number TEXT NOT NULL,
    price_vnd BIGINT NOT NULL,
    term_months INTEGER NOT NULL,
    certificate_profile TEXT NOT NULL,
    template_version TEXT NOT NULL,
    document BLOB NOT NULL,
    document_sha256 TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'superseded', 'signed')),
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    -- Evidence of signing.
    signed_at TIMESTAMP,
    signed_by TEXT,
    signature_image BLOB,
    signature_sha256 TEXT,
    otp_challenge_id TEXT,
    otp_masked_destination TEXT,
    CHECK (status <> 'signed' OR (signed_at IS NOT NULL AND signed_by IS NOT NULL
        AND signature_image IS NOT NULL AND signature_sha256 IS NOT NULL
        AND otp_challenge_id IS NOT NULL AND otp_masked_destination IS NOT NULL))
);
-- At most one live contract (draft or signed) per enrolment; a new draft supersedes the old.
CREATE UNIQUE INDEX contracts_one_live ON contracts (enrolment_id)
    WHERE status IN ('draft', 'signed');

-- The rendered document never changes; a signed contract never changes nor disappears.
CREATE TRIGGER contracts_immutable BEFORE UPDATE ON contracts
    WHEN OLD.status = 'signed' OR NEW.number IS NOT OLD.number
        OR NEW.document IS NOT OLD.document OR NEW.document_sha256 IS NOT OLD.document_sha256
        OR NEW.enrolment_id IS NOT OLD.enrolment_id OR NEW.package_code IS NOT OLD.package_code
BEGIN
    SELECT RAISE(ABORT, 'contract is immutable');
END;
CREATE TRIGGER contracts_signed_no_delete BEFORE DELETE ON contracts
    WHEN OLD.status = 'signed'
BEGIN
    SELECT RAISE(ABORT, 'contract is signed and immutable');
END;

-- The free-package right, taken when a free contract is signed. A claim counts unless it was
-- released (the citizen rejected the certificate at acceptance) or its enrolment was withdrawn
-- (withdrawal is only possible before issuance): a certificate never issued uses no right.
CREATE TABLE free_package_claims (
    contract_id TEXT PRIMARY KEY NOT NULL REFERENCES contracts (id),
    enrolment_id TEXT NOT NULL REFERENCES enrolments (id),
    id_number TEXT NOT NULL,
    package_code TEXT NOT NULL REFERENCES packages (code),
    status TEXT NOT NULL CHECK (status IN ('held', 'released')),
    created_at TIMESTAMP NOT NULL,
    released_at TIMESTAMP,
    released_reason TEXT
);
CREATE INDEX free_package_claims_id_number ON free_package_claims (id_number);
