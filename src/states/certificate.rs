//! The certificate lifecycle: every status a certificate row can have and every move between
//! them, in one table.
//!
//! ```text
//! (record) ──▶ signing ──sign──▶ pending_acceptance ──accept──▶ active ◀──resume── suspended
//!                 │                     │                        │  └───suspend───▶   │
//!          revoke_unsigned       reject, revoke      revoke, supersede          revoke │
//!                 ▼                     ▼                        ▼                    ▼
//!                revoked ◀─────────────────────────────────────────────────────────────┘
//! active, suspended ──expire (past notAfter)──▶ expired
//! ```
//! `revoked` is final. `expired` is reached only from a certificate that was valid or on hold;
//! one never accepted is revoked by the acceptance deadline long before.
//!
//! These strings are the `certificates.status` values; the CHECK constraint in
//! `migrations/*/2026-11-23-000004_certificates/up.sql` repeats them: change both together.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CertificateStatus {
    /// Recorded with its to-be-signed bytes; the signature may not exist yet.
    Signing,
    /// Signed, not yet accepted by the subscriber (on hold in OCSP and on the CRL).
    PendingAcceptance,
    Active,
    /// On hold (certificateHold).
    Suspended,
    Revoked,
    /// Past notAfter.
    Expired,
}

/// The call that records a `signing` row signs it within milliseconds: a row still `signing`
/// this long after it was recorded belongs to a process that stopped between record and sign.
pub const SIGNING_INTERRUPTED_AFTER: TimeDelta = TimeDelta::seconds(30);
/// The recovery job revokes a `signing` row this old (see `issuance::Issuer::abandon_stale`).
pub const SIGNING_RECOVERED_AFTER: TimeDelta = TimeDelta::minutes(5);

/// Whether a row still `signing` at `now`, recorded at `recorded_at`, was left by a stopped
/// process (no answer will come; recovery cancels it).
pub fn signing_interrupted(recorded_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - recorded_at >= SIGNING_INTERRUPTED_AFTER
}

/// A move of the lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Move {
    /// The signed certificate is stored.
    Sign,
    /// The subscriber accepted it.
    Accept,
    /// The subscriber rejected it, or the acceptance deadline passed: revoked.
    Reject,
    /// The row of a signing that never completed (failure, or a process stopped) is revoked:
    /// the signature might exist.
    RevokeUnsigned,
    Revoke,
    Suspend,
    Resume,
    /// Its renewal or rekey was accepted: revoked (`superseded`).
    Supersede,
    /// Past notAfter.
    Expire,
}

impl CertificateStatus {
    /// In lifecycle order (the search filters offer these).
    pub const ALL: [CertificateStatus; 6] = [
        CertificateStatus::Signing,
        CertificateStatus::PendingAcceptance,
        CertificateStatus::Active,
        CertificateStatus::Suspended,
        CertificateStatus::Revoked,
        CertificateStatus::Expired,
    ];

    /// The statuses a CRL lists: revoked, and on hold (suspended, or not yet accepted). It
    /// also lists an `expired` certificate that was on hold when it expired (its revocation
    /// columns stay set); other expired certificates are dropped.
    pub const LISTED_ON_CRL: [CertificateStatus; 4] = [
        CertificateStatus::Revoked,
        CertificateStatus::Suspended,
        CertificateStatus::PendingAcceptance,
        CertificateStatus::Signing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CertificateStatus::Signing => "signing",
            CertificateStatus::PendingAcceptance => "pending_acceptance",
            CertificateStatus::Active => "active",
            CertificateStatus::Suspended => "suspended",
            CertificateStatus::Revoked => "revoked",
            CertificateStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        CertificateStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The status after `m`, or `None` when `m` does not apply to this one.
    pub fn after(self, m: Move) -> Option<CertificateStatus> {
        m.from().contains(&self).then(|| m.to())
    }

    /// Its validity ended for good: revoked, or expired.
    pub fn has_ended(self) -> bool {
        matches!(
            self,
            CertificateStatus::Revoked | CertificateStatus::Expired
        )
    }

    /// A signing or an acceptance is still under way (the certificate is not yet valid).
    pub fn is_in_issuance(self) -> bool {
        matches!(
            self,
            CertificateStatus::Signing | CertificateStatus::PendingAcceptance
        )
    }
}

impl Move {
    /// The table: the statuses a move applies to, and the status it leads to.
    fn rule(self) -> (&'static [CertificateStatus], CertificateStatus) {
        use CertificateStatus as S;
        match self {
            Move::Sign => (&[S::Signing], S::PendingAcceptance),
            Move::Accept => (&[S::PendingAcceptance], S::Active),
            Move::Reject => (&[S::PendingAcceptance], S::Revoked),
            Move::RevokeUnsigned => (&[S::Signing], S::Revoked),
            Move::Revoke => (&[S::PendingAcceptance, S::Active, S::Suspended], S::Revoked),
            Move::Suspend => (&[S::Active], S::Suspended),
            Move::Resume => (&[S::Suspended], S::Active),
            Move::Supersede => (&[S::Active], S::Revoked),
            Move::Expire => (&[S::Active, S::Suspended], S::Expired),
        }
    }

    /// The statuses this move applies to (the condition of its update).
    pub fn from(self) -> &'static [CertificateStatus] {
        self.rule().0
    }

    /// The status it leads to.
    pub fn to(self) -> CertificateStatus {
        self.rule().1
    }
}

impl fmt::Display for CertificateStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Stored JSON (the idempotent issuance answer) carries the status by its column name.
impl Serialize for CertificateStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CertificateStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        CertificateStatus::parse(&s)
            .ok_or_else(|| de::Error::custom(format!("unknown certificate status `{s}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CertificateStatus as S;

    const MOVES: [Move; 9] = [
        Move::Sign,
        Move::Accept,
        Move::Reject,
        Move::RevokeUnsigned,
        Move::Revoke,
        Move::Suspend,
        Move::Resume,
        Move::Supersede,
        Move::Expire,
    ];

    #[test]
    fn strings_round_trip() {
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
        }
        assert_eq!(S::parse("Active"), None);
        assert_eq!(S::parse(""), None);
    }

    #[test]
    fn revoked_is_final() {
        for m in MOVES {
            assert_eq!(S::Revoked.after(m), None, "{m:?}");
        }
    }

    #[test]
    fn a_certificate_is_signed_then_accepted_or_rejected() {
        assert_eq!(S::Signing.after(Move::Sign), Some(S::PendingAcceptance));
        // `Tx::record_signed_certificate` filters on `signing` alone.
        assert_eq!(Move::Sign.from(), [S::Signing]);
        assert_eq!(S::Signing.after(Move::RevokeUnsigned), Some(S::Revoked));
        assert_eq!(S::Signing.after(Move::Accept), None);
        assert_eq!(S::PendingAcceptance.after(Move::Accept), Some(S::Active));
        assert_eq!(S::PendingAcceptance.after(Move::Reject), Some(S::Revoked));
        assert_eq!(S::PendingAcceptance.after(Move::Sign), None);
        assert_eq!(S::Active.after(Move::Accept), None);
        assert_eq!(S::Active.after(Move::RevokeUnsigned), None);
    }

    #[test]
    fn only_possible_status_changes_are_allowed() {
        assert_eq!(S::PendingAcceptance.after(Move::Revoke), Some(S::Revoked));
        assert_eq!(S::Active.after(Move::Revoke), Some(S::Revoked));
        assert_eq!(S::Suspended.after(Move::Revoke), Some(S::Revoked));
        assert_eq!(S::Signing.after(Move::Revoke), None);
        assert_eq!(S::Expired.after(Move::Revoke), None);
        assert_eq!(S::Active.after(Move::Suspend), Some(S::Suspended));
        assert_eq!(S::PendingAcceptance.after(Move::Suspend), None);
        assert_eq!(S::Suspended.after(Move::Resume), Some(S::Active));
        assert_eq!(S::Active.after(Move::Resume), None);
    }

    #[test]
    fn only_an_active_certificate_is_superseded_and_only_valid_or_held_ones_expire() {
        assert_eq!(S::Active.after(Move::Supersede), Some(S::Revoked));
        assert_eq!(S::Suspended.after(Move::Supersede), None);
        assert_eq!(S::PendingAcceptance.after(Move::Supersede), None);
        let expiring: Vec<_> = S::ALL
            .into_iter()
            .filter(|s| s.after(Move::Expire).is_some())
            .collect();
        assert_eq!(expiring, [S::Active, S::Suspended]);
        assert!(S::ALL
            .into_iter()
            .all(|s| s.after(Move::Expire).is_none_or(|t| t == S::Expired)));
    }

    #[test]
    fn the_migrations_allow_exactly_these_statuses() {
        for m in ["sqlite", "postgres"] {
            let sql = std::fs::read_to_string(format!(
                "{}/migrations/{m}/2026-11-23-000004_certificates/up.sql",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap();
            let check = sql.split("status IN").nth(1).unwrap();
            let check = &check[..check.find(')').unwrap()];
            let listed = check.matches('\'').count() / 2;
            assert_eq!(listed, S::ALL.len(), "{m}");
            for s in S::ALL {
                assert!(check.contains(&format!("'{s}'")), "{m}: {s}");
            }
        }
    }
}
