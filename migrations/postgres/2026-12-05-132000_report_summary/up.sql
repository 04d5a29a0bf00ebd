-- The adoption reports' summary of closed days (issue #18): per Vietnamese day, address basis
-- and place, the certificates issued, accepted and ended that day. A closed day's figures
-- never change (times are stamped "now", never backdated), except when a certificate's
-- revocation time moves (a suspension lifted or turned into a revocation): that change
-- deletes the days it touched here, and they are summarised again.
CREATE TABLE report_days (
    day TEXT PRIMARY KEY,
    summarised_at TIMESTAMP NOT NULL
);
CREATE TABLE report_day_counts (
    day TEXT NOT NULL,
    address TEXT NOT NULL CHECK (address IN ('permanent', 'current')),
    wards BOOLEAN NOT NULL,
    province TEXT NOT NULL,
    ward TEXT NOT NULL,
    issued BIGINT NOT NULL,
    accepted BIGINT NOT NULL,
    ended BIGINT NOT NULL,
    PRIMARY KEY (address, wards, day, province, ward)
);
